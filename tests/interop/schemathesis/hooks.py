"""Schemathesis hooks for Portcullis (loaded through `hooks` in schemathesis.toml).

`POST /api/config` takes a compact JWE as its body (`application/jose`, RFC 7516's media
type): text, which schemathesis can already write as `text/plain`.
"""

import schemathesis

schemathesis.serializer.alias("application/jose", "text/plain")
