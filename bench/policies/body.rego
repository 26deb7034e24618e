# A policy that reads the JSON request body (input.parsed_body, which both agents parse from the
# body Envoy forwards): only well-formed orders from gold or platinum customers under a total pass.
package envoy.authz

import rego.v1

default allow := false

allow if {
	input.attributes.request.http.method == "POST"
	order := input.parsed_body
	order.customer.tier in {"gold", "platinum"}
	count(order.items) > 0
	every item in order.items {
		item.quantity > 0
		item.quantity <= 100
	}
	total := sum([amount | some item in order.items; amount := item.quantity * item.unit_price])
	total < 1000000
}
