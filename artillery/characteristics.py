#!/usr/bin/env python3
"""The characteristics the load tools' new reviews rate (artillery/README.md).

A new review must rate each of its product's characteristics (Size, Fit, ...)
by id, 1 to 5, or `POST /reviews/:id` answers 422; the ids are each
product's own, so the tools read them from the product's meta on the
service they load. wrk's Lua cannot make a request of its own: this script
writes them to a file beforehand.

  characteristics.py wrk URL PRODUCTS MODE [DRAWS] > FILE

FILE, for artillery/wrk/storefront.lua, holds DRAWS lines (default 20,000),
each a product the tool will post to and its characteristic ids, "2 5,6,7,8"
(no ids: "2 ", for a service whose meta has no characteristics: the script
then sends none). The products are drawn as the tool would draw them: MODE
`mix` as the storefront mix does (80% among the hottest 1% of ids, the rest
in the last 10%), `posts` uniformly over every product; each distinct one's
meta is read once, so a run reads at most DRAWS metas (about 4,300 for the
mix at 1M records), not every product's.

As a module (artillery/siege-urls.sh): `pick(rng, products)` draws a
product as the mix does, and `Metas(base).ids(product)` reads a product's
characteristic ids (once per product).
"""

import http.client
import json
import random
import sys
import urllib.parse


def pick(rng, products):
    """A product as the storefront mix draws one: 80% among the hottest 1% of ids."""
    if rng.random() < 0.8:
        return rng.randint(1, max(1, products // 100))
    return rng.randint(products * 9 // 10 + 1, products)


class Metas:
    """Characteristic ids of products, from their meta on one service, each read once."""

    def __init__(self, base):
        url = urllib.parse.urlsplit(base)
        self.conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=10)
        self.known = {}

    def ids(self, product):
        """The product's characteristic ids, in the order its meta lists them."""
        if product not in self.known:
            self.conn.request("GET", f"/reviews/{product}/meta")
            res = self.conn.getresponse()
            body = res.read()
            if res.status != 200:
                sys.exit(f"characteristics.py: GET /reviews/{product}/meta answered {res.status}: {body[:200]!r}")
            meta = json.loads(body)
            self.known[product] = [c["id"] for c in meta.get("characteristics", {}).values()]
        return self.known[product]


def main(args):
    if len(args) not in (4, 5) or args[0] != "wrk" or args[3] not in ("mix", "posts"):
        sys.exit(__doc__.split("\n\n")[1])
    base, products, mode = args[1], int(args[2]), args[3]
    draws = int(args[4]) if len(args) == 5 else 20_000
    rng = random.Random(7)
    metas = Metas(base)
    out = []
    for _ in range(draws):
        product = pick(rng, products) if mode == "mix" else rng.randint(1, products)
        out.append(f"{product} {','.join(map(str, metas.ids(product)))}\n")
    sys.stdout.writelines(out)


if __name__ == "__main__":
    main(sys.argv[1:])
