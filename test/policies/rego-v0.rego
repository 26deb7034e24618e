# Rego v0 syntax (no "if", "default ... = ..."): loaded from .rego with the version detected.
package envoy.authz

default allow = false

allow {
	input.attributes.request.http.method == "GET"
}
