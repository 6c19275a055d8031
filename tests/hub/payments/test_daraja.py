"""hub.payments.daraja: DarajaProvider against the Daraja simulator over real HTTP (token
cache and refresh, password and Nairobi timestamp, each outcome by callback and by query,
timeouts and refusals as ProviderError, malformed callbacks as InvalidCallback)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from common import daraja
from hub.payments import (
    DarajaProvider,
    DarajaSettings,
    InvalidCallback,
    PaymentProvider,
    ProviderError,
    StkRequest,
)
from routersim.daraja import CONSUMER_KEY, CONSUMER_SECRET, DarajaConfig, DarajaSim
from tests.helpers import free_port, wait_for
from tests.receiver import CallbackReceiver

PHONE = "254712345678"


def settings(base_url: str, **changes: Any) -> DarajaSettings:
    values: dict[str, Any] = {
        "base_url": base_url,
        "consumer_key": CONSUMER_KEY,
        "consumer_secret": CONSUMER_SECRET,
        "shortcode": daraja.SANDBOX_SHORTCODE,
        "passkey": daraja.SANDBOX_PASSKEY,
        "timeout": 5.0,
    }
    values.update(changes)
    return DarajaSettings(**values)


def stk(receiver: CallbackReceiver, amount: int = 30, phone: str = PHONE) -> StkRequest:
    return StkRequest(
        amount=amount,
        phone=phone,
        account_reference="ACME-1H",
        description="Hotspot 1h",
        callback_url=receiver.url,
    )


@pytest.fixture
async def sim() -> AsyncIterator[DarajaSim]:
    async with DarajaSim() as running:
        yield running


@pytest.fixture
async def provider(sim: DarajaSim) -> AsyncIterator[DarajaProvider]:
    mpesa = DarajaProvider(settings(sim.url))
    yield mpesa
    await mpesa.close()


@pytest.fixture
async def receiver() -> AsyncIterator[CallbackReceiver]:
    async with CallbackReceiver() as running:
        yield running


def test_provider_is_a_payment_provider_and_hides_its_secrets() -> None:
    s = settings("http://127.0.0.1:1", consumer_secret="s3cret", passkey="p4ss")
    provider: PaymentProvider = DarajaProvider(s)
    assert provider.name == "mpesa"
    assert "s3cret" not in repr(s) and "p4ss" not in repr(s) and CONSUMER_KEY not in repr(s)


@pytest.mark.parametrize(
    "changes",
    [
        {"base_url": "ftp://x"},
        {"shortcode": "12"},
        {"transaction_type": "SendMoney"},
        {"passkey": ""},
        {"timeout": 0},
    ],
)
def test_settings_refuse_nonsense(changes) -> None:
    with pytest.raises(ValueError):
        settings(**{"base_url": "http://127.0.0.1:1", **changes})


# -- token --------------------------------------------------------------------------------------
async def test_token_is_fetched_once_and_reused(sim, provider, receiver) -> None:
    await asyncio.gather(*(provider.stk_push(stk(receiver)) for _ in range(5)))
    await provider.stk_push(stk(receiver))
    assert sim.state.tokens_issued == 1
    assert len(sim.state.payments) == 6


async def test_token_about_to_expire_is_replaced(receiver) -> None:
    # expires_in under the 60 s margin: every call finds its token stale and fetches another
    async with DarajaSim(DarajaConfig(token_ttl=30)) as sim:
        provider = DarajaProvider(settings(sim.url))
        try:
            await provider.stk_push(stk(receiver))
            await provider.stk_push(stk(receiver))
        finally:
            await provider.close()
        assert sim.state.tokens_issued == 2


async def test_refused_token_is_fetched_again_once(sim, provider, receiver) -> None:
    await provider.stk_push(stk(receiver))
    sim.state.tokens.clear()  # Daraja forgot it: the next call gets 401 Invalid Access Token
    accepted = await provider.stk_push(stk(receiver))
    assert sim.state.tokens_issued == 2
    assert accepted.checkout_request_id in sim.state.payments


async def test_wrong_consumer_secret_is_not_retryable(sim, receiver) -> None:
    provider = DarajaProvider(settings(sim.url, consumer_secret="wrong"))
    try:
        with pytest.raises(ProviderError) as caught:
            await provider.stk_push(stk(receiver))
    finally:
        await provider.close()
    assert not caught.value.retryable and caught.value.code == "400.008.01"
    assert "wrong" not in caught.value.message
    assert sim.state.payments == {}


# -- push -------------------------------------------------------------------------------------
async def test_push_is_accepted_with_password_and_nairobi_timestamp(
    sim, provider, receiver
) -> None:
    # the simulator refuses a wrong Password and a Timestamp off Nairobi's clock (a UTC one)
    accepted = await provider.stk_push(stk(receiver, amount=75))
    payment = sim.state.payments[accepted.checkout_request_id]
    assert accepted.merchant_request_id == payment.merchant_request_id
    assert accepted.customer_message == "Success. Request accepted for processing"
    assert (payment.amount, payment.phone) == (75, PHONE)
    assert (payment.account_reference, payment.description) == ("ACME-1H", "Hotspot 1h")
    assert payment.callback_url == receiver.url


async def test_wrong_passkey_is_not_retryable(sim, receiver) -> None:
    provider = DarajaProvider(settings(sim.url, passkey="not-the-passkey"))
    try:
        with pytest.raises(ProviderError) as caught:
            await provider.stk_push(stk(receiver))
    finally:
        await provider.close()
    assert caught.value.code == "500.001.1001" and not caught.value.retryable
    assert "Wrong credentials" in caught.value.message


@pytest.mark.parametrize(
    "request_",
    [
        StkRequest(0, PHONE, "ACME", "Plan", "http://127.0.0.1/cb"),
        StkRequest(10, "+254712345678", "ACME", "Plan", "http://127.0.0.1/cb"),
        StkRequest(10, PHONE, "A" * 13, "Plan", "http://127.0.0.1/cb"),
        StkRequest(10, PHONE, "ACME", "D" * 14, "http://127.0.0.1/cb"),
        StkRequest(10, PHONE, "ACME", "Plan", "javascript:alert(1)"),
    ],
)
async def test_bad_requests_are_refused_before_any_call(sim, provider, request_) -> None:
    with pytest.raises(ProviderError) as caught:
        await provider.stk_push(request_)
    assert not caught.value.retryable
    assert sim.state.tokens_issued == 0


async def test_daraja_refusing_a_field_is_not_retryable(sim, provider, receiver) -> None:
    with pytest.raises(ProviderError) as caught:
        await provider.stk_push(stk(receiver, phone="255712345678"))  # not a Safaricom number
    assert caught.value.code == "400.002.02" and not caught.value.retryable
    assert "Invalid PartyA" in caught.value.message


# -- outcomes by callback and by query --------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("paid", "completed", 0),
        ("cancelled", "failed", 1032),
        ("insufficient_funds", "failed", 1),
        ("timeout", "failed", 1037),
        ("wrong_pin", "failed", 2001),
    ],
)
async def test_each_outcome_through_callback_and_query(
    sim, provider, receiver, kind, status, code
) -> None:
    sim.set_outcome(kind)
    accepted = await provider.stk_push(stk(receiver, amount=40))
    [body] = await receiver.wait()
    result = provider.parse_callback(body)
    assert result.checkout_request_id == accepted.checkout_request_id
    assert (result.status, result.result_code) == (status, code)
    assert result.result_desc
    payment = sim.state.payments[accepted.checkout_request_id]
    if status == "completed":
        assert (result.amount, result.phone, result.receipt) == (40, PHONE, payment.receipt)
        assert result.paid_at is not None and result.paid_at.tzinfo is not None
        assert result.paid_at == daraja.parse_timestamp(str(payment.transaction_date))
        assert abs((datetime.now(UTC) - result.paid_at).total_seconds()) < 300
    else:
        assert (result.amount, result.receipt, result.phone, result.paid_at) == (None,) * 4
    queried = await provider.query(accepted.checkout_request_id)
    assert (queried.status, queried.result_code) == (status, code)
    assert queried.checkout_request_id == accepted.checkout_request_id
    assert queried.amount is None and queried.receipt is None


async def test_query_is_pending_until_decided(sim, provider, receiver) -> None:
    sim.set_outcome("paid", delay=None)
    accepted = await provider.stk_push(stk(receiver))
    pending = await provider.query(accepted.checkout_request_id)
    assert (pending.status, pending.result_code) == ("pending", None)
    assert pending.result_desc == "The transaction is being processed"
    sim.state.payments[accepted.checkout_request_id].release.set()
    await receiver.wait()
    assert (await provider.query(accepted.checkout_request_id)).status == "completed"


async def test_query_answered_4999_is_pending_too() -> None:
    """Some Daraja deployments answer an in-progress query 200 with ResultCode 4999."""

    async def token(request: web.Request) -> web.Response:
        return web.json_response({"access_token": "t0k3n", "expires_in": "3599"})

    async def query(request: web.Request) -> web.Response:
        body = {
            "ResponseCode": "0",
            "ResponseDescription": "The service request has been accepted successsfully",
            "MerchantRequestID": "1-2-1",
            "CheckoutRequestID": "ws_CO_1",
            "ResultCode": "4999",
            "ResultDesc": "The transaction is still under processing",
        }
        return web.json_response(body)

    app = web.Application()
    app.router.add_get("/oauth/v1/generate", token)
    app.router.add_post("/mpesa/stkpushquery/v1/query", query)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    provider = DarajaProvider(settings(f"http://127.0.0.1:{runner.addresses[0][1]}"))
    try:
        result = await provider.query("ws_CO_1")
    finally:
        await provider.close()
        await runner.cleanup()
    assert (result.status, result.result_code) == ("pending", None)
    assert result.result_desc == "The transaction is still under processing"


async def test_lost_callback_is_settled_by_the_query(sim, provider, receiver) -> None:
    sim.set_outcome("callback_lost", phone=PHONE)
    accepted = await provider.stk_push(stk(receiver))
    payment = sim.state.payments[accepted.checkout_request_id]
    await wait_for(lambda: payment.decided)
    result = await provider.query(accepted.checkout_request_id)
    assert (result.status, result.result_code) == ("completed", 0)
    assert receiver.bodies == []


async def test_replayed_callback_parses_to_the_same_result(sim, provider, receiver) -> None:
    accepted = await provider.stk_push(stk(receiver))
    await receiver.wait()
    await sim.state.deliver(sim.state.payments[accepted.checkout_request_id])
    first, second = await receiver.wait(2)
    assert provider.parse_callback(first) == provider.parse_callback(second)


async def test_query_of_an_unknown_checkout_is_not_retryable(provider) -> None:
    with pytest.raises(ProviderError) as caught:
        await provider.query("ws_CO_nothing")
    assert caught.value.code == "400.002.02" and not caught.value.retryable
    for bad in ("", "x" * 65):
        with pytest.raises(ProviderError) as caught:
            await provider.query(bad)
        assert not caught.value.retryable and caught.value.code is None


# -- unreachable or slow Daraja ---------------------------------------------------------------
async def test_connection_refused_is_retryable(receiver) -> None:
    provider = DarajaProvider(settings(f"http://127.0.0.1:{free_port()}"))
    try:
        with pytest.raises(ProviderError) as caught:
            await provider.stk_push(stk(receiver))
        assert caught.value.retryable
        with pytest.raises(ProviderError) as caught:
            await provider.query("ws_CO_1")
        assert caught.value.retryable
    finally:
        await provider.close()


@pytest.fixture
async def silent_daraja() -> AsyncIterator[str]:
    """A server that takes requests and never answers them."""
    never = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await never.wait()
        raise AssertionError("unreachable")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", hang)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def test_timeout_is_retryable(silent_daraja, receiver) -> None:
    provider = DarajaProvider(settings(silent_daraja, timeout=0.2))
    try:
        with pytest.raises(ProviderError) as caught:
            await provider.stk_push(stk(receiver))
    finally:
        await provider.close()
    assert caught.value.retryable and "did not answer" in caught.value.message


async def test_a_shared_session_is_left_open(sim, receiver) -> None:
    async with aiohttp.ClientSession() as session:
        provider = DarajaProvider(settings(sim.url), session=session)
        await provider.stk_push(stk(receiver))
        await provider.close()
        assert not session.closed


# -- callbacks from the Internet --------------------------------------------------------------
DOCUMENTED = {  # Daraja's documented success example
    "Body": {
        "stkCallback": {
            "MerchantRequestID": "29115-34620561-1",
            "CheckoutRequestID": "ws_CO_191220191020363925",
            "ResultCode": 0,
            "ResultDesc": "The service request is processed successfully.",
            "CallbackMetadata": {
                "Item": [
                    {"Name": "Amount", "Value": 1.00},
                    {"Name": "MpesaReceiptNumber", "Value": "NLJ7RT61SV"},
                    {"Name": "TransactionDate", "Value": 20191219102115},
                    {"Name": "PhoneNumber", "Value": 254708374149},
                ]
            },
        }
    }
}


def test_documented_callback_parses_with_nairobi_time(provider) -> None:
    result = provider.parse_callback(json.dumps(DOCUMENTED).encode())
    assert result.status == "completed" and result.result_code == 0
    assert (result.amount, result.receipt, result.phone) == (1, "NLJ7RT61SV", "254708374149")
    assert result.paid_at == datetime(2019, 12, 19, 7, 21, 15, tzinfo=UTC)  # 10:21:15 EAT


def test_documented_failure_parses(provider) -> None:
    body = {
        "Body": {
            "stkCallback": {
                "MerchantRequestID": "29115-34620561-1",
                "CheckoutRequestID": "ws_CO_191220191020363925",
                "ResultCode": 1032,
                "ResultDesc": "Request cancelled by user.",
            }
        }
    }
    result = provider.parse_callback(json.dumps(body).encode())
    assert (result.status, result.result_code, result.amount) == ("failed", 1032, None)


def _changed(path: list[str | int], value: Any = None, drop: bool = False) -> bytes:
    body = json.loads(json.dumps(DOCUMENTED))
    node = body
    for key in path[:-1]:
        node = node[key]
    if drop:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return json.dumps(body).encode()


CB = ["Body", "stkCallback"]
ITEMS = [*CB, "CallbackMetadata", "Item"]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b'{"Body": {}}',
        b"[" * 10_000,
        b'{"Body": ' * 2_000,
        b"{" + b" " * 20_000 + b"}",
        _changed(["Extra"], 1),
        _changed([*CB, "Surprise"], "x"),
        _changed([*CB, "CheckoutRequestID"], drop=True),
        _changed([*CB, "CheckoutRequestID"], ""),
        _changed([*CB, "CheckoutRequestID"], "x" * 65),
        _changed([*CB, "ResultCode"], "0"),
        _changed([*CB, "ResultCode"], True),
        _changed([*CB, "CallbackMetadata"], drop=True),
        _changed([*CB, "ResultCode"], 1032),  # a failure carrying CallbackMetadata
        _changed([*ITEMS, 0, "Value"], 1.5),
        _changed([*ITEMS, 0, "Value"], 0),
        _changed([*ITEMS, 0, "Value"], "1"),
        _changed([*ITEMS, 0], {"Name": "Amount", "Value": 1, "Currency": "KES"}),
        _changed([*ITEMS, 1, "Value"], "bad receipt!"),
        _changed([*ITEMS, 1, "Value"], None),
        _changed([*ITEMS, 2, "Value"], 20191319102115),
        _changed([*ITEMS, 2, "Value"], 2019121910),
        _changed([*ITEMS, 2, "Value"], 10101000000),
        _changed([*ITEMS, 3, "Value"], 10**30),
        _changed([*ITEMS, 3, "Value"], "+254708374149"),
        _changed([*ITEMS, 3], {"Name": "Amount", "Value": 1}),  # Amount twice, no PhoneNumber
        _changed([*ITEMS, 3], {"Name": "Surname", "Value": "x"}),
        _changed([*ITEMS], [{"Name": "Balance"}] * 17),
    ],
)
def test_malformed_callbacks_are_invalid(provider, body) -> None:
    with pytest.raises(InvalidCallback):
        provider.parse_callback(body)
