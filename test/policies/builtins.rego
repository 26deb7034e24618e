# Calls builtins with arguments taken from the request's JSON body (so that every call happens at
# evaluation time, through the WebAssembly module's host calls where it has them) and returns the
# results in dynamic_metadata. A call that fails leaves its key out, as OPA's non-strict mode does.
package envoy.authz

args := input.parsed_body

ns := time.parse_rfc3339_ns(args.rfc3339)

results["jwt_hs256"] := io.jwt.decode_verify(args.hs_token, {"secret": args.secret})

results["jwt_hs256_wrong_secret"] := io.jwt.decode_verify(args.hs_token, {"secret": "not-the-secret"})

results["jwt_hs256_expired_at_time"] := io.jwt.decode_verify(args.hs_token, {"secret": args.secret, "time": args.after_exp_ns})

results["jwt_hs256_wrong_alg"] := io.jwt.decode_verify(args.hs_token, {"secret": args.secret, "alg": "HS512"})

results["jwt_hs256_iss_aud"] := io.jwt.decode_verify(args.hs_aud_token, {"secret": args.secret, "iss": "kmesh", "aud": "api"})

results["jwt_hs256_aud_missing"] := io.jwt.decode_verify(args.hs_aud_token, {"secret": args.secret})

results["jwt_rs256"] := io.jwt.decode_verify(args.rs_token, {"cert": args.cert})

results["jwt_rs256_tampered"] := io.jwt.decode_verify(args.rs_tampered, {"cert": args.cert})

results["jwt_decode"] := io.jwt.decode(args.hs_token)

results["jwt_verify_hs256"] := io.jwt.verify_hs256(args.hs_token, args.secret)

results["jwt_verify_rs256"] := io.jwt.verify_rs256(args.rs_token, args.cert)

results["jwt_decode_garbage"] := io.jwt.decode(args.text)

results["parse_rfc3339_ns"] := ns

results["parse_rfc3339_ns_text"] := sprintf("%d", [ns])

results["parse_rfc3339_ns_offset"] := time.parse_rfc3339_ns(args.rfc3339_offset)

results["parse_rfc3339_ns_bad"] := time.parse_rfc3339_ns(args.text)

results["parse_duration_ns"] := time.parse_duration_ns(args.duration)

results["parse_duration_ns_bad"] := time.parse_duration_ns(args.text)

results["date"] := time.date(ns)

results["date_tz"] := time.date([ns, args.tz])

results["clock"] := time.clock(ns)

results["clock_tz"] := time.clock([ns, args.tz])

results["weekday"] := time.weekday(ns)

results["weekday_tz"] := time.weekday([ns, "Pacific/Kiritimati"])

results["add_date"] := time.add_date(ns, 1, -2, 30)

results["add_date_text"] := sprintf("%d", [time.add_date(ns, 0, 1, 0)])

results["sha256"] := crypto.sha256(args.text)

results["hmac_sha256"] := crypto.hmac.sha256(args.text, args.secret)

results["urlquery_encode"] := urlquery.encode(args.text)

results["urlquery_decode"] := urlquery.decode(args.encoded)

results["urlquery_encode_object"] := urlquery.encode_object({"a": args.text, "b": ["2", "1"]})

results["urlquery_encode_object_set"] := urlquery.encode_object({"c": {"z", "y", args.text}})

results["urlquery_decode_object"] := urlquery.decode_object(args.query)

results["base64url_encode_no_pad"] := base64url.encode_no_pad(args.text)

results["sprintf"] := sprintf("%v|%d|%s|%v|%v|%v|%v", [args.obj, args.int, args.text, args.float, args.list, args.big, true])

results["units_parse_bytes"] := [units.parse_bytes(s) | some s in args.byte_sizes]

results["units_parse_bytes_bad"] := units.parse_bytes(args.text)

results["hex_encode"] := hex.encode(args.text)

results["hex_decode"] := hex.decode(args.hex)

results["hex_decode_bad"] := hex.decode(args.text)

results["semver_compare"] := [semver.compare(a, b) | some [a, b] in args.versions]

results["semver_compare_bad"] := semver.compare(args.text, "1.0.0")

results["uuid_stable_per_key"] := uuid.rfc4122(args.uuid_key) == uuid.rfc4122(args.uuid_key)

allow := {
	"allowed": true,
	"dynamic_metadata": {
		"results": results,
		"edges": edges,
		"more": more,
		# Differ from server to server and check to check: checked for shape only.
		"now_ns": time.now_ns(),
		"uuid": uuid.rfc4122(args.uuid_key),
	},
}

# A set argument: Go iterates it in sorted order and prints it in set notation.
results["sprintf_set"] := sprintf("%v", [{"b", args.int, "a"}])

# Edge cases: each a bad or unusual argument, taken from the request body.
edges["rfc3339_lowercase"] := time.parse_rfc3339_ns("2024-02-29t23:59:59z")

edges["rfc3339_no_fraction_offset"] := time.parse_rfc3339_ns("1969-12-31T23:59:59-00:01")

edges["rfc3339_far_future"] := time.parse_rfc3339_ns("2262-04-11T23:47:16.854775807Z")

edges["rfc3339_out_of_range"] := time.parse_rfc3339_ns("2262-04-11T23:47:16.854775808Z")

edges["duration_fractional_hours"] := time.parse_duration_ns("1.5h")

edges["duration_negative"] := time.parse_duration_ns("-2m3s")

edges["duration_micro_sign"] := time.parse_duration_ns("3µs4us5ns")

edges["duration_no_unit"] := time.parse_duration_ns("10")

edges["date_negative_ns"] := time.date(-1)

edges["clock_negative_ns"] := time.clock(-1)

edges["weekday_epoch"] := time.weekday(0)

edges["add_date_normalizes"] := time.add_date(ns, 0, 0, 400)

edges["date_bad_tz"] := time.date([ns, "Mars/Olympus"])

edges["date_local_tz"] := time.date([ns, ""])

edges["units_lowercase_and_spaces"] := [units.parse_bytes(s) | some s in ["1 kb", "1kib", "1.5 GiB", "2EiB", "  3 M "]]

edges["units_too_large"] := units.parse_bytes("100000EiB")

edges["units_negative"] := units.parse_bytes("-1KB")

edges["semver_prerelease_numeric"] := semver.compare("1.0.0-1", "1.0.0-a")

edges["semver_leading_v"] := semver.compare("v1.0.0", "1.0.0")

edges["urlquery_decode_bad_escape"] := urlquery.decode("a%zzb")

edges["urlquery_decode_object_bad"] := urlquery.decode_object("a=%zz&b=1")

edges["urlquery_encode_object_empty"] := urlquery.encode_object({})

edges["hex_decode_odd"] := hex.decode("abc")

edges["hex_decode_upper"] := hex.decode("4B4D")

edges["base64url_no_pad_empty"] := base64url.encode_no_pad("")

edges["base64url_no_pad_binaryish"] := base64url.encode_no_pad("\u00ff\u00fe>?")

edges["sprintf_verbs"] := sprintf("%x %X %o %b %e %E %f %.2f %q %5d|%-5s|%05d %t %%", [255, 255, 8, 5, 1234.5678, 0.000012, 3.14159, 2.71828, "q\"s", 42, "ab", 7, false])

edges["sprintf_float_as_d"] := sprintf("%d", [1.5])

edges["sprintf_missing_arg"] := sprintf("%s %s", ["only"])

edges["sprintf_extra_arg"] := sprintf("%s", ["a", "b"])

edges["sprintf_decimals"] := sprintf("%v %v %v %v %g", [1.5, -0.5, 123456789012, 1.0, 0.1])

# Go picks the Go type of a number from its literal text: an exponent form without "." is neither int
# nor float to sprintf (it prints as text, or as a wrong-type verb), and 2.0 is a float, not an int.
edges["sprintf_number_text"] := sprintf("%v %v %g %d", [1e300, 1e-7, 1e21, 2.0])

edges["sha256_unicode"] := crypto.sha256("✓é")

edges["hmac_empty_key"] := crypto.hmac.sha256("data", "")

edges["jwt_none_alg"] := io.jwt.decode_verify(args.none_token, {"secret": args.secret})

edges["jwt_not_a_token"] := io.jwt.decode_verify("not.a.token", {"secret": args.secret})

edges["jwt_nbf_in_future_at_time"] := io.jwt.decode_verify(args.hs_token, {"secret": args.secret, "time": 1000000000000000000})

edges["jwt_verify_hs256_bad"] := io.jwt.verify_hs256(args.hs_token, "wrong")

edges["jwt_cert_garbage"] := io.jwt.decode_verify(args.rs_token, {"cert": "-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----"})

edges["jwt_jwks_cert"] := io.jwt.verify_rs256(args.rs_token, args.jwks)

# The rest of the host builtins kmesh-opa implements.
more["time_diff"] := time.diff(ns, time.parse_rfc3339_ns("2021-01-31T00:00:00Z"))

more["time_diff_tz"] := time.diff([ns, "Asia/Kolkata"], [0, "UTC"])

more["time_format_rfc3339"] := time.format(ns)

more["time_format_tz"] := time.format([ns, args.tz])

more["time_format_layout"] := time.format([ns, "Europe/Paris", "Mon Jan _2 15:04:05.000 MST 2006"])

more["time_format_named_layout"] := time.format([ns, "UTC", "RFC822Z"])

more["time_parse_ns"] := time.parse_ns("2006-01-02 15:04:05 -0700", "2024-02-29 13:14:15 +0200")

more["time_parse_ns_named"] := time.parse_ns("RFC1123", "Thu, 29 Feb 2024 13:14:15 GMT")

more["time_parse_ns_bad"] := time.parse_ns("2006-01-02", "29/02/2024")

more["units_parse"] := [units.parse(s) | some s in ["10K", "10Ki", "1.5M", "100m", "1e3", "2G", "0.5"]]

more["units_parse_bad"] := units.parse("ten")

more["semver_is_valid"] := [semver.is_valid(v) | some v in ["1.2.3", "1.2", "v1.2.3", "1.2.3-rc.1+b.5", "01.2.3"]]

more["uuid_parse"] := uuid.parse("6ba7b810-9dad-11d1-80b4-00c04fd430c8")

more["uuid_parse_v4"] := uuid.parse("{936da01f-9abd-4d9d-80c7-02af85c822a8}")

more["uuid_parse_bad"] := uuid.parse("not-a-uuid")

more["yaml_marshal"] := yaml.marshal({"b": [1, "two", {"c": null}], "a": true, "s": "multi\nline", "f": 1.5})

more["yaml_unmarshal"] := yaml.unmarshal("a: 1\nb: [x, y]\nc:\n  d: true\n  e: 2024-01-01\nf: 0x1F\ng: ~\n")

more["yaml_unmarshal_bad"] := yaml.unmarshal("a: [unclosed")

more["yaml_is_valid"] := [yaml.is_valid("a: 1"), yaml.is_valid("a: [")]

more["md5"] := crypto.md5(args.text)

more["sha1"] := crypto.sha1(args.text)

more["hmac_md5"] := crypto.hmac.md5(args.text, args.secret)

more["hmac_sha1"] := crypto.hmac.sha1(args.text, args.secret)

more["hmac_sha512"] := crypto.hmac.sha512(args.text, args.secret)

more["hmac_equal"] := [crypto.hmac.equal("abc", "abc"), crypto.hmac.equal("abc", "abd")]

more["jwt_verify_es256_pem"] := io.jwt.verify_es256(args.es_token, args.es_pem)

more["jwt_verify_es256_jwks"] := io.jwt.verify_es256(args.es_token, args.es_jwks)

more["jwt_decode_verify_es256"] := io.jwt.decode_verify(args.es_token, {"cert": args.es_pem})

more["jwt_verify_ps256"] := io.jwt.verify_ps256(args.ps_token, args.cert)

more["jwt_verify_eddsa"] := io.jwt.verify_eddsa(args.ed_token, args.ed_pem)

more["jwt_decode_verify_eddsa"] := io.jwt.decode_verify(args.ed_token, {"cert": args.ed_jwks})

more["jwt_verify_hs512_wrong_alg"] := io.jwt.verify_hs512(args.hs_token, args.secret)

more["jwt_verify_rs384_with_rs256_token"] := io.jwt.verify_rs384(args.rs_token, args.cert)
