"""A small shop that fails in the ways services do, reporting through the SDK (the demo).

Run by ``sentinel up`` as ``python -m sentinel.capture._demo_shop --gateway URL`` with the
key in ``SENTINEL_CAPTURE_DEMO_KEY``: every ``--interval`` seconds one of its requests
fails, with personal data in the message for the scrubber to remove, and now and then a
worker thread dies (the hook reports it).
"""

from __future__ import annotations

import argparse
import os
import random
import threading
import time

import sentinel.capture as sdk

REPO = "sentinel-demo/shop"
ORDERS = {1001: {"total": 25.0}, 1002: {"total": 99.5}}


class PaymentDeclined(Exception):
    """The card processor said no."""


def get_order(order_id: int) -> dict[str, float]:
    return ORDERS[order_id]


def charge(card: str, email: str, amount: float) -> None:
    raise PaymentDeclined(f"card {card} declined for {email} (amount {amount:.2f})")


def connect_database() -> None:
    try:
        raise OSError(111, "Connection refused")
    except OSError as exc:
        raise ConnectionError(
            "could not reach postgres://shop:hunter2@10.0.3.7:5432/shop after 3 attempts"
        ) from exc


def average_basket(totals: list[float]) -> float:
    return sum(totals) / len(totals)


REQUESTS = (
    ("/api/orders/{order_id}", lambda: get_order(random.randint(2000, 9999))),
    (
        "/api/checkout",
        lambda: charge("4111 1111 1111 1111", f"customer{random.randint(1, 99)}@example.com", 42),
    ),
    ("/api/inventory", connect_database),
)


def serve_one() -> None:
    endpoint, handler = random.choice(REQUESTS)
    try:
        handler()
    except Exception:
        sdk.capture_exception(endpoint=endpoint)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--interval", type=float, default=5.0)
    args = parser.parse_args()
    sdk.configure(
        api_key=os.environ["SENTINEL_CAPTURE_DEMO_KEY"],
        github_repo=REPO,
        gateway_url=args.gateway,
        endpoint_label="worker",
    )
    sdk.install_hook()
    rounds = 0
    while True:
        serve_one()
        rounds += 1
        if rounds % 4 == 0:  # a nightly report job whose thread dies on an empty day
            worker = threading.Thread(target=average_basket, args=([],), name="report")
            worker.start()
            worker.join()
        time.sleep(args.interval)


if __name__ == "__main__":
    main()
