# Echoes the input document back to the caller, for tests that compare inputs.
# v3 answers carry it in dynamic_metadata; v2 answers have no dynamic_metadata field,
# so there it travels as a denial's body.
package envoy.authz

allow := {"allowed": false, "http_status": 200, "body": json.marshal(input)} if {
	input.version.ext_authz == "v2"
} else := {"allowed": true, "dynamic_metadata": {"input": input}}
