"""routersim.daraja: the Daraja simulator's contract over real HTTP (OAuth, STK push
validation, each outcome, the query before and after, callback_lost, replay, the knobs)."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from common import daraja
from routersim.daraja import DarajaConfig, DarajaSim, Outcome
from tests.helpers import ROOT, free_port, wait_for
from tests.receiver import CallbackReceiver

PHONE = "254712345678"
KEY, SECRET = "sim-consumer-key", "sim-consumer-secret"


def basic(key: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()}


@pytest.fixture
async def sim() -> AsyncIterator[DarajaSim]:
    async with DarajaSim() as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def receiver() -> AsyncIterator[CallbackReceiver]:
    async with CallbackReceiver() as running:
        yield running


async def token(http: aiohttp.ClientSession, sim: DarajaSim) -> str:
    async with http.get(
        f"{sim.url}/oauth/v1/generate",
        params={"grant_type": "client_credentials"},
        headers=basic(KEY, SECRET),
    ) as response:
        assert response.status == 200
        return (await response.json())["access_token"]


def now_stamp(at: datetime | None = None) -> str:
    """Nairobi local yyyymmddHHMMSS, computed here without common.daraja (UTC+3, no DST)."""
    at = at or datetime.now(UTC)
    return (at + timedelta(hours=3)).strftime("%Y%m%d%H%M%S")


def push_body(callback_url: str, **changes: Any) -> dict[str, Any]:
    stamp = now_stamp()
    secret = base64.b64encode(f"174379{daraja.SANDBOX_PASSKEY}{stamp}".encode()).decode()
    body = {
        "BusinessShortCode": 174379,
        "Password": secret,
        "Timestamp": stamp,
        "TransactionType": "CustomerPayBillOnline",
        "Amount": 50,
        "PartyA": int(PHONE),
        "PartyB": 174379,
        "PhoneNumber": int(PHONE),
        "CallBackURL": callback_url,
        "AccountReference": "ACME-1H",
        "TransactionDesc": "Hotspot 1h",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


async def call(
    http: aiohttp.ClientSession, url: str, body: Any, bearer: str | None
) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with http.post(url, data=data, headers=headers) as response:
        return response.status, await response.json(content_type=None)


async def push(
    http: aiohttp.ClientSession, sim: DarajaSim, callback_url: str, **changes: Any
) -> tuple[int, dict[str, Any]]:
    bearer = await token(http, sim)
    url = f"{sim.url}/mpesa/stkpush/v1/processrequest"
    return await call(http, url, push_body(callback_url, **changes), bearer)


async def query(
    http: aiohttp.ClientSession, sim: DarajaSim, checkout_id: str
) -> tuple[int, dict[str, Any]]:
    stamp = now_stamp()
    body = {
        "BusinessShortCode": "174379",
        "Password": daraja.password("174379", daraja.SANDBOX_PASSKEY, stamp),
        "Timestamp": stamp,
        "CheckoutRequestID": checkout_id,
    }
    return await call(http, f"{sim.url}/mpesa/stkpushquery/v1/query", body, await token(http, sim))


# -- OAuth ------------------------------------------------------------------------------------
async def test_token_is_issued_for_the_consumer_key_and_secret(sim, http) -> None:
    async with http.get(
        f"{sim.url}/oauth/v1/generate?grant_type=client_credentials",
        headers=basic(KEY, SECRET),
    ) as response:
        assert response.status == 200
        body = await response.json()
    assert set(body) == {"access_token", "expires_in"}
    assert body["expires_in"] == "3599" and len(body["access_token"]) >= 20
    assert sim.state.tokens_issued == 1


@pytest.mark.parametrize(
    ("query", "auth", "code", "message"),
    [
        ("client_credentials", basic(KEY, "wrong"), "400.008.01", "Invalid Auth"),
        ("client_credentials", basic("nobody", SECRET), "400.008.01", "Invalid Auth"),
        ("client_credentials", {}, "400.008.01", "Invalid Authentication passed"),
        ("client_credentials", {"Authorization": "Basic !!!"}, "400.008.01", "Invalid Auth"),
        ("password", basic(KEY, SECRET), "400.008.02", "Invalid grant type passed"),
    ],
)
async def test_token_is_refused_without_good_credentials(
    sim, http, query, auth, code, message
) -> None:
    async with http.get(
        f"{sim.url}/oauth/v1/generate", params={"grant_type": query}, headers=auth
    ) as response:
        assert response.status == 400
        body = await response.json()
    assert body["errorCode"] == code and body["errorMessage"].startswith(message)
    assert body["requestId"]
    assert sim.state.tokens_issued == 0


async def test_push_needs_a_live_token_the_simulator_issued(sim, http, receiver) -> None:
    url = f"{sim.url}/mpesa/stkpush/v1/processrequest"
    for bearer in (None, "made-up-token"):
        status, body = await call(http, url, push_body(receiver.url), bearer)
        assert (status, body["errorCode"]) == (401, "404.001.03")
        assert body["errorMessage"] == "Invalid Access Token"
    bearer = await token(http, sim)
    async with http.post(f"{sim.url}/sim/tokens/revoke") as response:
        assert (await response.json()) == {"revoked": 1}
    status, body = await call(http, url, push_body(receiver.url), bearer)
    assert (status, body["errorCode"]) == (401, "404.001.03")
    assert sim.state.payments == {}


async def test_an_expired_token_is_refused(http, receiver) -> None:
    async with DarajaSim(DarajaConfig(token_ttl=0)) as sim:
        status, body = await push(http, sim, receiver.url)
        assert (status, body["errorCode"]) == (401, "404.001.03")


# -- validation -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"BusinessShortCode": "17a379"}, "BusinessShortCode"),
        ({"BusinessShortCode": None}, "BusinessShortCode"),
        ({"Password": ""}, "Password"),
        ({"Timestamp": "2024-01-01 10:00"}, "Timestamp"),
        ({"Timestamp": "20241301100000"}, "Timestamp"),
        ({"Timestamp": "00010101000000"}, "Timestamp"),
        ({"Timestamp": 20241201100000}, "Timestamp"),
        ({"Timestamp": now_stamp(datetime.now(UTC) - timedelta(hours=3))}, "Timestamp"),
        ({"TransactionType": "SendMoney"}, "TransactionType"),
        ({"Amount": 0}, "Amount"),
        ({"Amount": -5}, "Amount"),
        ({"Amount": 1.5}, "Amount"),
        ({"Amount": "ten"}, "Amount"),
        ({"Amount": True}, "Amount"),
        ({"Amount": 250_001}, "Amount"),
        ({"PartyA": "0712345678"}, "PartyA"),
        ({"PartyB": "x"}, "PartyB"),
        ({"PhoneNumber": 255712345678}, "PhoneNumber"),
        ({"PhoneNumber": "25471234567"}, "PhoneNumber"),
        ({"CallBackURL": "ftp://example.com/cb"}, "CallBackURL"),
        ({"CallBackURL": "not a url"}, "CallBackURL"),
        ({"AccountReference": "A" * 13}, "AccountReference"),
        ({"AccountReference": None}, "AccountReference"),
        ({"TransactionDesc": "D" * 14}, "TransactionDesc"),
    ],
)
async def test_push_refuses_each_bad_field_with_darajas_error(
    sim, http, receiver, changes, field
) -> None:
    status, body = await push(http, sim, receiver.url, **changes)
    assert status == 400
    assert set(body) == {"requestId", "errorCode", "errorMessage"}
    assert body["errorCode"] == "400.002.02"
    assert body["errorMessage"] == f"Bad Request - Invalid {field}"
    assert sim.state.payments == {}


@pytest.mark.parametrize(
    "raw", [b"not json", b"[1, 2]", b"", b"{" * 70_000, b"[" * 60_000, b'{"Amount": 1e999999}']
)
async def test_push_refuses_a_body_that_is_not_a_json_object(sim, http, raw) -> None:
    url = f"{sim.url}/mpesa/stkpush/v1/processrequest"
    status, body = await call(http, url, raw, await token(http, sim))
    assert (status, body["errorCode"]) == (400, "400.002.05")
    assert body["errorMessage"] == "Invalid Request Payload"


async def test_push_checks_the_password_and_the_shortcode(sim, http, receiver) -> None:
    status, body = await push(http, sim, receiver.url, Password=base64.b64encode(b"x").decode())
    assert (status, body["errorCode"], body["errorMessage"]) == (
        500,
        "500.001.1001",
        "Wrong credentials",
    )
    status, body = await push(http, sim, receiver.url, BusinessShortCode=600000)
    assert (status, body["errorMessage"]) == (500, "Merchant does not exist")
    assert sim.state.payments == {}


async def test_push_takes_numbers_as_strings_too(sim, http, receiver) -> None:
    status, body = await push(
        http, sim, receiver.url, BusinessShortCode="174379", Amount="50", PhoneNumber=PHONE
    )
    assert status == 200, body


# -- outcomes ---------------------------------------------------------------------------------
async def test_paid_push_answers_then_posts_the_documented_callback(sim, http, receiver) -> None:
    status, accepted = await push(http, sim, receiver.url)
    assert status == 200
    assert set(accepted) == {
        "MerchantRequestID",
        "CheckoutRequestID",
        "ResponseCode",
        "ResponseDescription",
        "CustomerMessage",
    }
    assert accepted["ResponseCode"] == "0"
    assert accepted["CheckoutRequestID"].startswith("ws_CO_")
    [raw] = await receiver.wait()
    callback = json.loads(raw)["Body"]["stkCallback"]
    assert callback["MerchantRequestID"] == accepted["MerchantRequestID"]
    assert callback["CheckoutRequestID"] == accepted["CheckoutRequestID"]
    assert callback["ResultCode"] == 0
    assert callback["ResultDesc"] == "The service request is processed successfully."
    items = {item["Name"]: item.get("Value") for item in callback["CallbackMetadata"]["Item"]}
    assert items["Amount"] == 50
    assert items["PhoneNumber"] == int(PHONE)
    assert len(items["MpesaReceiptNumber"]) == 10 and items["MpesaReceiptNumber"].isalnum()
    assert "Balance" in items and items["Balance"] is None
    paid = datetime.strptime(str(items["TransactionDate"]), "%Y%m%d%H%M%S")
    nairobi_now = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=3)
    assert abs(nairobi_now - paid) < timedelta(minutes=5)  # a Nairobi clock reading, not UTC


@pytest.mark.parametrize(
    ("kind", "code", "desc"),
    [
        ("cancelled", 1032, "Request cancelled by user"),
        ("insufficient_funds", 1, "The balance is insufficient for the transaction."),
        ("timeout", 1037, "DS timeout user cannot be reached"),
        ("wrong_pin", 2001, "The initiator information is invalid."),
    ],
)
async def test_failed_outcomes_post_their_result_code_without_metadata(
    http, receiver, kind, code, desc
) -> None:
    async with DarajaSim(DarajaConfig(outcome=Outcome(kind))) as sim:
        status, accepted = await push(http, sim, receiver.url)
        assert status == 200
        [raw] = await receiver.wait()
        assert json.loads(raw) == {
            "Body": {
                "stkCallback": {
                    "MerchantRequestID": accepted["MerchantRequestID"],
                    "CheckoutRequestID": accepted["CheckoutRequestID"],
                    "ResultCode": code,
                    "ResultDesc": desc,
                }
            }
        }
        status, result = await query(http, sim, accepted["CheckoutRequestID"])
        assert status == 200
        assert (result["ResultCode"], result["ResultDesc"]) == (str(code), desc)


async def test_query_says_processing_until_the_outcome_then_the_result(sim, http, receiver) -> None:
    sim.set_outcome("paid", delay=None)  # held until settled
    _, accepted = await push(http, sim, receiver.url)
    checkout_id = accepted["CheckoutRequestID"]
    status, body = await query(http, sim, checkout_id)
    assert (status, body["errorCode"]) == (500, "500.001.1001")
    assert body["errorMessage"] == "The transaction is being processed"
    async with http.post(f"{sim.url}/sim/settle/{checkout_id}") as response:
        assert response.status == 200
    await receiver.wait()
    status, body = await query(http, sim, checkout_id)
    assert status == 200
    assert body == {
        "ResponseCode": "0",
        "ResponseDescription": "The service request has been accepted successsfully",
        "MerchantRequestID": accepted["MerchantRequestID"],
        "CheckoutRequestID": checkout_id,
        "ResultCode": "0",
        "ResultDesc": "The service request is processed successfully.",
    }
    async with http.post(f"{sim.url}/sim/settle/{checkout_id}") as response:
        assert response.status == 409


async def test_query_of_an_unknown_checkout_is_refused(sim, http) -> None:
    status, body = await query(http, sim, "ws_CO_000000")
    assert (status, body["errorMessage"]) == (400, "Bad Request - Invalid CheckoutRequestID")


async def test_callback_lost_sends_nothing_but_the_query_knows(http, receiver) -> None:
    async with DarajaSim(DarajaConfig(outcome=Outcome("callback_lost"))) as sim:
        _, accepted = await push(http, sim, receiver.url)
        payment = sim.state.payments[accepted["CheckoutRequestID"]]
        await wait_for(lambda: payment.decided)
        await wait_for(lambda: not sim.state.tasks)  # its task ended without a delivery
        assert receiver.bodies == [] and payment.deliveries == []
        status, body = await query(http, sim, accepted["CheckoutRequestID"])
        assert (status, body["ResultCode"]) == (200, "0")
        # a late delivery can still be forced: the lost callback arriving after the query
        async with http.post(f"{sim.url}/sim/replay/{accepted['CheckoutRequestID']}") as response:
            assert (await response.json())["status"] == 200
        [raw] = await receiver.wait()
        assert json.loads(raw)["Body"]["stkCallback"]["ResultCode"] == 0


async def test_replay_sends_the_same_callback_again(sim, http, receiver) -> None:
    _, accepted = await push(http, sim, receiver.url)
    [first] = await receiver.wait()
    checkout_id = accepted["CheckoutRequestID"]
    async with http.post(f"{sim.url}/sim/replay/{checkout_id}") as response:
        assert response.status == 200
        assert (await response.json())["status"] == 200
    assert receiver.bodies == [first, first]
    async with http.post(f"{sim.url}/sim/replay/ws_CO_unknown") as response:
        assert response.status == 404


async def test_replay_of_an_undecided_payment_is_refused(sim, http, receiver) -> None:
    sim.set_outcome("paid", delay=None)
    _, accepted = await push(http, sim, receiver.url)
    async with http.post(f"{sim.url}/sim/replay/{accepted['CheckoutRequestID']}") as response:
        assert response.status == 409
    assert receiver.bodies == []


async def test_outcomes_per_phone_through_the_admin_endpoint(sim, http, receiver) -> None:
    other = "254722000111"
    async with http.post(
        f"{sim.url}/sim/outcomes", json={"phone": other, "outcome": "cancelled"}
    ) as response:
        assert response.status == 200
        assert (await response.json()) == {"phone": other, "outcome": "cancelled", "delay": 0.0}
    await push(http, sim, receiver.url, PartyA=other, PhoneNumber=other)
    await push(http, sim, receiver.url)
    codes = sorted(
        json.loads(raw)["Body"]["stkCallback"]["ResultCode"] for raw in await receiver.wait(2)
    )
    assert codes == [0, 1032]


@pytest.mark.parametrize(
    "body",
    [
        {"outcome": "refunded"},
        {"outcome": "paid", "phone": "0712345678"},
        {"outcome": "paid", "delay": -1},
        {"outcome": "paid", "colour": "red"},
        {"outcome": [[[[[[]]]]]]},
        "not an object",
    ],
)
async def test_admin_outcome_refuses_bad_input(sim, http, body) -> None:
    async with http.post(f"{sim.url}/sim/outcomes", json=body) as response:
        assert response.status == 400
        assert "error" in await response.json()
    assert sim.config.outcome == Outcome() and sim.config.outcomes == {}


async def test_payments_are_listed_with_their_deliveries(sim, http, receiver) -> None:
    receiver.status = 500  # the receiver fails: recorded, never retried
    _, accepted = await push(http, sim, receiver.url)
    await receiver.wait()
    await wait_for(lambda: not sim.state.tasks)
    async with http.get(f"{sim.url}/sim/payments") as response:
        [payment] = (await response.json())["payments"]
    assert payment["checkout_request_id"] == accepted["CheckoutRequestID"]
    assert payment["status"] == "decided" and payment["result_code"] == 0
    assert payment["amount"] == 50 and payment["phone"] == PHONE
    assert [c["status"] for c in payment["callbacks"]] == [500]
    assert len(receiver.bodies) == 1


async def test_an_unreachable_callback_url_is_recorded(sim, http) -> None:
    _, accepted = await push(http, sim, f"http://127.0.0.1:{free_port()}/cb")
    payment = sim.state.payments[accepted["CheckoutRequestID"]]
    await wait_for(lambda: payment.deliveries)
    assert payment.deliveries[0].status is None and payment.deliveries[0].error


async def test_close_cancels_the_payments_still_waiting(http, receiver) -> None:
    sim = DarajaSim(DarajaConfig(outcome=Outcome("paid", delay=None)))
    await sim.start()
    await push(http, sim, receiver.url)
    [task] = list(sim.state.tasks)
    await sim.close()
    assert task.cancelled() and not sim.state.tasks
    assert receiver.bodies == []


async def test_cli_serves_until_sigint() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "routersim.daraja",
        "--port",
        "0",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 15)).decode().split()
        assert line[0] == "daraja" and line[2] == "shortcode=174379", line
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                f"{line[1]}/oauth/v1/generate?grant_type=client_credentials",
                headers=basic(KEY, SECRET),
            ) as response,
        ):
            assert response.status == 200
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 15) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
