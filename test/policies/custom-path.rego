# A decision outside envoy/authz, for --path and --query.
package kmesh.test

decision := {"allowed": input.attributes.request.http.method == "GET", "headers": {"x-decided-by": "kmesh.test.decision"}}
