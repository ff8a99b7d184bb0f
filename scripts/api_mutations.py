# ruff: noqa: E501  (a table of guards: one line each)
"""Break each guard of the HTTP service once and check that its test goes red.

    .venv/bin/python scripts/api_mutations.py [NAME-FRAGMENT ...]

Each entry: a name, a file, the guard as written, its broken form, the test that must fail.
The file is restored after each run. Sequential: one pytest at a time.
"""
import subprocess
import sys

M = [
 ("body limit: declared length", "sw/api/limits.py", "int(declared) > self.max_bytes", "False", "tests/api/test_search.py::test_body_limit_refuses_a_declared_length_before_reading_anything"),
 ("body limit: streamed count", "sw/api/limits.py", 'if state["received"] > self.max_bytes:', 'if False:', "tests/api/test_write.py::test_size_pixel_and_count_limits_refuse_with_413_and_write_nothing"),
 ("per-file size", "sw/api/app.py", "if size > settings.max_file_bytes:", "if False:", "tests/api/test_write.py::test_size_pixel_and_count_limits_refuse_with_413_and_write_nothing"),
 ("pixel limit", "sw/api/app.py", "if width * height > max_pixels:", "if False:", "tests/api/test_write.py::test_size_pixel_and_count_limits_refuse_with_413_and_write_nothing"),
 ("files per upload", "sw/api/app.py", "form = await _form(request, settings.max_files, \"too-many-files\", \"in one upload\")", "form = await _form(request, 1000, \"too-many-files\", \"in one upload\")", "tests/api/test_write.py::test_size_pixel_and_count_limits_refuse_with_413_and_write_nothing"),
 ("token missing", "sw/api/tokens.py", "    if not presented:\n", "    if False:\n", "tests/api/test_write.py::test_token_required_refused_and_rotated"),
 ("token compare", "sw/api/tokens.py", "if not hmac.compare_digest(token_digest(presented), digest):", "if False:", "tests/api/test_write.py::test_token_required_refused_and_rotated"),
 ("token not configured", "sw/api/tokens.py", "    if digest is None:\n        raise", "    if False:\n        raise", "tests/api/test_write.py::test_no_token_configured_refuses_writes"),
 ("token dependency", "sw/api/app.py", "dependencies=[Depends(require_token)], ", "", "tests/api/test_write.py::test_token_required_refused_and_rotated"),
 ("rate limit", "sw/api/limits.py", "        if wait > 0:\n", "        if False:\n", "tests/api/test_problems.py::test_rate_limit_answers_429_with_retry_after_and_spares_probes"),
 ("rate limit exemptions", "sw/api/limits.py", 'UNLIMITED_PATHS = frozenset({"/healthz", "/metrics"})', "UNLIMITED_PATHS = frozenset()", "tests/api/test_problems.py::test_rate_limit_answers_429_with_retry_after_and_spares_probes"),
 ("500 handler", "sw/api/problems.py", "    @app.exception_handler(Exception)\n", "", "tests/api/test_problems.py::test_an_unhandled_error_is_a_500_without_a_traceback"),
 ("validation handler", "sw/api/problems.py", "    @app.exception_handler(RequestValidationError)\n", "", "tests/api/test_read.py::test_unknown_and_malformed_ids"),
 ("http error handler", "sw/api/problems.py", "    @app.exception_handler(StarletteHTTPException)\n", "", "tests/api/test_problems.py::test_unknown_route_and_method"),
 ("query batch (json)", "sw/api/app.py", "if len(body.queries) > settings.max_query_batch:", "if False:", "tests/api/test_query.py::test_query_limits_and_validation_are_problems"),
 ("query batch (multipart)", "sw/api/app.py", "form = await _form(request, settings.max_query_batch, \"batch-too-large\", \"in one query\")", "form = await _form(request, 1000, \"batch-too-large\", \"in one query\")", "tests/api/test_query.py::test_query_limits_and_validation_are_problems"),
 ("max distance cap", "sw/api/app.py", "if max_distance > settings.max_distance:", "if False:", "tests/api/test_query.py::test_query_limits_and_validation_are_problems"),
 ("search threshold", "sw/fingerprint_index.py", "        bits = radius_bits(max_distance)\n        snapshot = self._snapshot", "        bits = radius_bits(max_distance) + 64\n        snapshot = self._snapshot", "tests/api/test_query.py::test_a_near_fingerprint_is_found_at_its_distance_and_a_far_one_is_not"),
 ("search limit", "sw/fingerprint_index.py", "order = np.lexsort((snapshot.sequences[rows], distances))[:limit]", "order = np.lexsort((snapshot.sequences[rows], distances))", "tests/api/test_search.py"),
 ("lookup limit", "sw/api/records.py", "for row, exact, distance in found[:limit]:", "for row, exact, distance in found:", "tests/api/test_query.py::test_matches_are_ranked_and_limited"),
 ("search tie order", "sw/fingerprint_index.py", "order = np.lexsort((snapshot.sequences[rows], distances))[:limit]", "order = np.lexsort((-snapshot.sequences[rows], distances))[:limit]", "tests/api/test_search.py"),
 ("exact first", "sw/api/records.py", "found += [(row, True, 0.0) for row in store.find_by_content(blake3)]", "pass", "tests/api/test_query.py::test_json_query_by_hash_and_fingerprint_and_an_open_epoch"),
 ("bundle 409", "sw/api/app.py", "            if bundle is None:\n                raise Problem(409", "            if False:\n                raise Problem(409", "tests/api/test_read.py::test_bundle_of_an_open_epoch_is_a_409_saying_why"),
 ("status anchored/open", "sw/api/records.py", "    return epoch.state\n", "    return 'closed'\n", "tests/api/test_read.py::test_certificate_by_id_has_fields_and_status"),
 ("client: other certificate", "sw/api/client.py", 'if certificate.id.hex() != str(record["certificate_id"]).removeprefix("0x"):', "if False:", "tests/api/test_client.py"),
 ("client: exact claim", "sw/api/client.py", 'if record["exact"] != bool(match.get("exact")):', "if False:", "tests/api/test_client.py"),
 ("client: no chain never verified", "sw/api/client.py", 'record["verified"] = bool(result.ok) and not record["problems"]', 'record["verified"] = not record["problems"]', "tests/api/test_serve.py::test_serve_certifies_and_query_verifies_locally"),
 ("query unreachable -> 2", "sw/api/client.py", "    except httpx.HTTPError as error:\n        raise QueryError", "    except httpx.InvalidURL as error:\n        raise QueryError", "tests/api/test_serve.py::test_query_bad_input_and_unreachable_server_exit_2"),
 ("openapi drift", "sw/api/app.py", 'description="Who certified this content, and the proof: see docs/api.md."', 'description="changed"', "tests/api/test_openapi.py"),
 ("age sealer", "sw/api/app.py", "                await state[\"writer\"].maybe_seal()", "                pass", "tests/api/test_write.py::test_the_service_seals_an_old_epoch_by_itself"),
 ("token before body", "sw/api/app.py", "    async def certify(request: Request):", "    async def certify(request: Request, _body: Annotated[list[UploadFile], File()]):", "tests/api/test_write.py::test_token_required_refused_and_rotated"),
 ("access log off stdout", "sw/api/cli.py", 'log_config=_log_config(),', '', "tests/api/test_serve.py"),
 ("epochs paging", "sw/api/app.py", 'more = len(page) == limit and store.epochs_page(page[-1].number, 1)', 'more = False', "tests/api/test_read.py::test_epochs_are_paged"),
 ("socket says TCP (nodelay)", "sw/api/cli.py", "    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)\n", "", "tests/api/test_serve.py::test_listening_socket_is_tcp_with_nodelay"),
 ("devices: cross-check counts", "sw/api/app.py", "checked = writer.cross_check() if writer is not None else None", "checked = None", "tests/api/test_read.py::test_devices_report_the_cross_check_of_a_device_behind_the_driver"),
 ("kept tree: root checked", "sw/verify.py", "if nodes is not None and nodes[:HASH_BYTES] == epoch.merkle_root:", "if nodes is not None:", "tests/host/test_verify.py::test_bundles_read_the_tree_kept_at_sealing_or_rebuild_it"),
 ("upload fingerprint: the specification's bits", "sw/api/app.py", "return fingerprint_images_fast(SVDParams(), [content.pixels])[0]", "return fingerprint_images_fast(SVDParams(n=16), [content.pixels])[0]", "tests/api/test_query.py"),
]
only = sys.argv[1:]
failed = []
for name, path, old, new, test in M:
    if only and not any(o in name for o in only):
        continue
    src = open(path).read()
    assert src.count(old) == 1, (name, src.count(old))
    open(path, "w").write(src.replace(old, new))
    try:
        r = subprocess.run([".venv/bin/python", "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", test], capture_output=True, text=True, timeout=120)
    finally:
        open(path, "w").write(src)
    print(f"{'RED ' if r.returncode else 'GREEN (survived!)'}  {name}", flush=True)
    if not r.returncode:
        failed.append(name)
sys.exit(1 if failed else 0)
