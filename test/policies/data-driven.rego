# Reads its settings from the data document (--data for a bare .wasm).
package envoy.authz

allow := {
	"allowed": input.attributes.request.http.method in data.config.methods,
	"headers": {"x-tenant": data.config.tenant},
}
