# RBAC over a data document: data.rbac.bindings holds 1,000 (subject, roles) bindings, scanned for the
# caller's mesh identity (the SPIFFE principal Envoy reports for the mTLS peer); data.rbac.roles maps
# each role to the (method, path glob) pairs it grants.
package envoy.authz

import rego.v1

default allow := false

allow if {
	some binding in data.rbac.bindings
	binding.subject == input.attributes.source.principal
	some role in binding.roles
	some grant in data.rbac.roles[role]
	grant.method == input.attributes.request.http.method
	glob.match(grant.path, ["/"], input.attributes.request.http.path)
}
