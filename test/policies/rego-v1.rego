# Rego v1 syntax: the same decision as rego-v0.rego.
package envoy.authz

default allow := false

allow if input.attributes.request.http.method == "GET"
