"""The appliance's HTTP service (``rosvd serve``): who certified this content, with the proof.

One concept per module: :mod:`.app` (the FastAPI factory and its routes), :mod:`.problems`
(RFC 9457 errors), :mod:`.tokens` (the write token), :mod:`.limits` (request size and
rate), :mod:`.settings` (their values), :mod:`.metrics` (Prometheus), :mod:`.records`
(store rows as API records), :mod:`.models` (the schema), :mod:`.writer` (the one thread
that certifies), :mod:`.client` (``rosvd query``) and :mod:`.cli` (the commands).
The contract is the OpenAPI document, committed as ``docs/openapi.json``.
"""
