#!/usr/bin/env python3
"""Talk to a raftkv cluster from Python with aiohttp (the seed's usage).

Start a cluster with `make cluster`, then run:

    python3 examples/aiohttp_client.py [http://localhost:8000 http://localhost:8001 ...]

It writes through the first node, reads the value back through every node
(followers forward linearizable reads to the leader), runs a compare-and-set
and a delete, and exits non-zero if any answer is not what raftkv promises.
"""
import asyncio
import sys

import aiohttp


async def command(session, endpoint, **body):
    async with session.post(f"{endpoint}/command", json=body) as resp:
        answer = await resp.json()
        if resp.status != 200:
            err = answer["error"]
            raise RuntimeError(f"{endpoint}: {err['code']}: {err['message']} (definite={err['definite']})")
        return answer


async def main(endpoints):
    async with aiohttp.ClientSession() as session:
        first = endpoints[0]
        print(await command(session, first, operation="set", key="greeting", value="hello"))
        for endpoint in endpoints:
            got = await command(session, endpoint, operation="get", key="greeting")
            print(endpoint, got)
            assert got["found"] and got["value"] == "hello", got
        swapped = await command(session, first, operation="cas", key="greeting", expected="hello", value="hi")
        print(swapped)
        assert swapped["succeeded"], swapped
        refused = await command(session, first, operation="cas", key="greeting", expected="hello", value="hey")
        print(refused)
        assert not refused["succeeded"] and refused["value"] == "hi", refused
        deleted = await command(session, first, operation="delete", key="greeting")
        print(deleted)
        gone = await command(session, endpoints[-1], operation="get", key="greeting")
        assert not gone["found"], gone
        print("ok")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:] or ["http://localhost:8000", "http://localhost:8001", "http://localhost:8002"]))
