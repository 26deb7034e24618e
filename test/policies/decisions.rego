# One decision per request header "x-case", covering every key of the OPA-Envoy decision object
# and the boolean form. Values that depend on the request read it, so nothing is folded at build time.
package envoy.authz

http_request := input.attributes.request.http

case := http_request.headers["x-case"]

decisions := {
	"bool-true": true,
	"bool-false": false,
	"allowed-only": {"allowed": true},
	"denied-only": {"allowed": false},
	"headers-object": {"allowed": true, "headers": {"x-user": "alice", "x-multi": ["one", "two"], "x-path": http_request.path}},
	"headers-list": {"allowed": true, "headers": [{"x-a": "1"}, {"x-a": "2", "x-b": "3"}]},
	"headers-denied": {"allowed": false, "headers": {"www-authenticate": "Bearer realm=\"kmesh\"", "x-reason": ["expired", "revoked"]}, "body": "token expired", "http_status": 401},
	"response-headers-to-add": {"allowed": true, "response_headers_to_add": {"set-cookie": ["a=1", "b=2"], "x-served-by": "opa"}},
	"request-headers-to-remove": {"allowed": true, "request_headers_to_remove": ["authorization", "cookie"]},
	"query-parameters-to-set": {"allowed": true, "query_parameters_to_set": {"page": "2", "tags": ["a", "b"]}},
	"query-parameters-to-remove": {"allowed": true, "query_parameters_to_remove": ["token", "debug"]},
	"body": {"allowed": false, "body": "<html>denied & \"quoted\" ✓</html>"},
	"body-on-allow": {"allowed": true, "body": "ignored when allowed", "http_status": 500},
	"http-status": {"allowed": false, "http_status": 429},
	"http-status-redirect": {"allowed": false, "http_status": 302, "headers": {"location": "https://login.example.com/"}},
	"dynamic-metadata": {"allowed": true, "dynamic_metadata": {
		"s": "x", "n": 1.5, "i": 42, "neg": -7, "b": true, "nothing": null,
		"list": [1, "a", {"o": {}}, []], "obj": {"nested": {"deep": [[http_request.method]]}},
	}},
	"dynamic-metadata-denied": {"allowed": false, "dynamic_metadata": {"reason": "no token"}, "http_status": 403},
	"empty-lists": {"allowed": true, "headers": {}, "request_headers_to_remove": [], "query_parameters_to_remove": [], "query_parameters_to_set": {}, "response_headers_to_add": []},
	"everything-allowed": {
		"allowed": true,
		"headers": {"x-ok": "yes"},
		"response_headers_to_add": [{"x-resp": "r"}],
		"request_headers_to_remove": ["x-secret"],
		"query_parameters_to_set": {"q": "1"},
		"query_parameters_to_remove": ["drop"],
		"body": "unused",
		"http_status": 418, # not read when allowed (Envoy has no 418)
		"dynamic_metadata": {"k": "v"},
	},
	"everything-denied": {
		"allowed": false,
		"headers": {"x-no": "no"},
		"response_headers_to_add": [{"x-resp": "r"}],
		"request_headers_to_remove": ["x-secret"],
		"query_parameters_to_set": {"q": "1"},
		"query_parameters_to_remove": ["drop"],
		"body": "go away",
		"http_status": 503,
		"dynamic_metadata": {"k": "v"},
	},
	"unknown-keys-ignored": {"allowed": true, "something_else": {"a": 1}},
}

allow := decisions[case]
