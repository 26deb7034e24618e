# Decisions the agent, not the policy, has to answer: chosen by the request header "x-mode".
package envoy.authz

http_request := input.attributes.request.http

mode := http_request.headers["x-mode"]

# Values the OPA-Envoy plugin cannot turn into a CheckResponse (envoyauth_result_error).
bad_decisions := {
	"string": "yes",
	"number": 42,
	"array": [true],
	"null": null,
	"no-allowed": {"headers": {"x": "y"}},
	"allowed-string": {"allowed": "true"},
	"headers-number": {"allowed": true, "headers": 5},
	"header-value-number": {"allowed": true, "headers": {"x-n": 1}},
	"http-status-string": {"allowed": false, "http_status": "401"},
	"http-status-unknown": {"allowed": false, "http_status": 999},
	"http-status-fraction": {"allowed": false, "http_status": 401.5},
	"body-number": {"allowed": false, "body": 1},
	"dynamic-metadata-list": {"allowed": true, "dynamic_metadata": [1]},
	"query-set-number": {"allowed": true, "query_parameters_to_set": {"a": 1}},
	"headers-to-remove-string": {"allowed": true, "request_headers_to_remove": "authorization"},
}

allow := bad_decisions[mode]

allow := {"allowed": true} if mode == "ok"

allow := {"allowed": false, "http_status": 401} if mode == "deny"

# Two bodies of one complete rule that disagree: evaluation aborts (eval_conflict_error in Go).
conflict := 1 if mode == "conflict"

conflict := 2 if mode == "conflict"

allow := {"allowed": conflict == 1} if mode == "conflict"

# json.unmarshal of very deeply nested arrays: the WebAssembly parser exhausts the call stack (a trap).
allow := {"allowed": is_object(json.unmarshal(http_request.body))} if mode == "trap"

# A huge array built from the input: more memory than --wasm-max-memory-mb allows.
allow := {"allowed": count(numbers.range(1, to_number(http_request.headers["x-n"]))) > 0} if mode == "memory"

# Division by zero is a builtin error, which leaves the decision undefined (as in Go's non-strict mode).
allow := {"allowed": (1 / to_number(http_request.headers["x-zero"])) > 0} if mode == "divide"

# mode "undefined": no rule applies at all.
