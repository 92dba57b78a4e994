"""`derain serve`: a local web page to derain photos (extra `derain[web]`).

`jobs.py` holds the queue and its single worker (no web framework in it); `app.py` the Starlette
routes; `static/` the page, shipped in the package so that nothing is ever fetched from a CDN.
"""
