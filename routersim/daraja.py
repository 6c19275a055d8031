"""A Safaricom Daraja simulator: OAuth, M-Pesa Express (STK push), STK query and the callback,
in Daraja's documented JSON, so the hub's M-Pesa provider is tested over real HTTP.

Daraja's API (what a real integration sees):

    GET  /oauth/v1/generate?grant_type=client_credentials   Basic key:secret
         -> {"access_token", "expires_in": "3599"}
    POST /mpesa/stkpush/v1/processrequest                   Bearer token
         -> {"MerchantRequestID", "CheckoutRequestID", "ResponseCode": "0", ...}
    POST /mpesa/stkpushquery/v1/query                       Bearer token
         -> {"ResultCode": "0", "ResultDesc", ...}, or 500.001.1001 "being processed"
    then POST {"Body": {"stkCallback": {...}}} to the push's CallBackURL, once, never retried.

Refusals carry {"requestId", "errorCode", "errorMessage"}. The simulator's own knobs (no auth;
it listens on loopback):

    POST /sim/outcomes            {"outcome", "phone"?, "delay"?}  default or per-phone outcome;
                                  "delay": seconds before the outcome, null: held until settled
    POST /sim/settle/{checkout}   decide a held (or delayed) payment now
    POST /sim/replay/{checkout}   send the last callback of a decided payment again (duplicates)
    POST /sim/tokens/revoke       forget every issued token (the next call answers 401)
    GET  /sim/payments            every payment, its outcome and its callback deliveries

Outcomes: paid, cancelled (1032), insufficient_funds (1), timeout (1037: the handset never
answered), wrong_pin (2001), callback_lost (paid, but no callback is sent; the query tells).
``python -m routersim.daraja --port N`` runs one for demos.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hmac
import itertools
import logging
import re
import secrets
import signal
import string
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Annotated, Any, Literal

import aiohttp
import msgspec
from aiohttp import web

from common import daraja
from common.timeutil import to_iso, utcnow

log = logging.getLogger(__name__)

OutcomeKind = Literal[
    "paid", "cancelled", "insufficient_funds", "timeout", "wrong_pin", "callback_lost"
]
# What each outcome ends with: (ResultCode, ResultDesc) as Daraja words them.
RESULTS: dict[str, tuple[int, str]] = {
    "paid": (daraja.RESULT_SUCCESS, "The service request is processed successfully."),
    "callback_lost": (daraja.RESULT_SUCCESS, "The service request is processed successfully."),
    "cancelled": (daraja.RESULT_CANCELLED, "Request cancelled by user"),
    "insufficient_funds": (
        daraja.RESULT_INSUFFICIENT_FUNDS,
        "The balance is insufficient for the transaction.",
    ),
    "timeout": (daraja.RESULT_UNREACHABLE, "DS timeout user cannot be reached"),
    "wrong_pin": (daraja.RESULT_WRONG_PIN, "The initiator information is invalid."),
}
ACCEPTED = "Success. Request accepted for processing"
QUERY_ACCEPTED = "The service request has been accepted successsfully"  # sic, as Daraja spells it
MAX_AMOUNT = 250_000  # M-Pesa's per-transaction ceiling, KES
MAX_BODY = 64 * 1024
CONSUMER_KEY, CONSUMER_SECRET = "sim-consumer-key", "sim-consumer-secret"  # the defaults

PHONE_RE = re.compile(r"254[17][0-9]{8}", re.ASCII)  # Safaricom: 2547XXXXXXXX, 2541XXXXXXXX
SHORTCODE_RE = re.compile(r"[0-9]{5,7}", re.ASCII)
URL_RE = re.compile(r"https?://[^\s/?#]+[^\s]*", re.ASCII)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a payment ends and after how many seconds (None: held until ``/sim/settle``)."""

    kind: OutcomeKind = "paid"
    delay: float | None = 0.0

    def __post_init__(self) -> None:
        if self.kind not in RESULTS:
            raise ValueError(f"unknown outcome {self.kind!r}; expected one of {sorted(RESULTS)}")
        if self.delay is not None and not 0 <= self.delay <= 86_400:
            raise ValueError(f"delay must be 0..86400 seconds or None, got {self.delay!r}")


@dataclass(slots=True)
class DarajaConfig:
    """Credentials the simulator accepts and how payments end."""

    consumer_key: str = CONSUMER_KEY
    consumer_secret: str = field(default=CONSUMER_SECRET, repr=False)
    shortcode: str = daraja.SANDBOX_SHORTCODE
    passkey: str = field(default=daraja.SANDBOX_PASSKEY, repr=False)
    token_ttl: int = 3599  # seconds, sent as expires_in (a string, as Daraja does)
    outcome: Outcome = field(default_factory=Outcome)  # for phones without their own
    outcomes: dict[str, Outcome] = field(default_factory=dict)  # by PhoneNumber, 2547XXXXXXXX
    # A Timestamp further than this from Nairobi's clock is refused: catches UTC stamps.
    timestamp_tolerance: float = 600.0
    callback_timeout: float = 10.0  # seconds the callback POST may take


@dataclass(slots=True)
class Delivery:
    """One callback POST: the receiver's HTTP status, or why it failed."""

    at: datetime
    status: int | None
    error: str | None = None


@dataclass(slots=True)
class Payment:
    """One STK push as the simulator holds it."""

    checkout_request_id: str
    merchant_request_id: str
    amount: int
    phone: str
    account_reference: str
    description: str
    callback_url: str
    outcome: Outcome
    created_at: datetime
    release: asyncio.Event = field(default_factory=asyncio.Event)  # set: decide now
    result_code: int | None = None  # None: not decided yet
    result_desc: str | None = None
    receipt: str | None = None
    transaction_date: int | None = None  # Nairobi yyyymmddHHMMSS, as the callback carries it
    callback: dict[str, Any] | None = None  # the body sent (or, for callback_lost, withheld)
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def decided(self) -> bool:
        return self.result_code is not None

    def view(self) -> dict[str, Any]:
        """The payment as ``GET /sim/payments`` shows it."""
        return {
            "checkout_request_id": self.checkout_request_id,
            "merchant_request_id": self.merchant_request_id,
            "amount": self.amount,
            "phone": self.phone,
            "account_reference": self.account_reference,
            "description": self.description,
            "callback_url": self.callback_url,
            "outcome": self.outcome.kind,
            "delay": self.outcome.delay,
            "created_at": to_iso(self.created_at),
            "status": "decided" if self.decided else "pending",
            "result_code": self.result_code,
            "result_desc": self.result_desc,
            "receipt": self.receipt,
            "transaction_date": self.transaction_date,
            "callbacks": [
                {"at": to_iso(d.at), "status": d.status, "error": d.error} for d in self.deliveries
            ],
        }


class DarajaError(Exception):
    """A refused Daraja call: HTTP status, errorCode and errorMessage."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _invalid(name: str) -> DarajaError:
    return DarajaError(400, daraja.ERROR_BAD_REQUEST, f"Bad Request - Invalid {name}")


class DarajaState:
    """Tokens, payments and the tasks that decide them; one per simulator app."""

    def __init__(self, config: DarajaConfig) -> None:
        self.config = config
        self.tokens: dict[str, float] = {}  # token -> loop time it expires
        self.tokens_issued = 0
        self.payments: dict[str, Payment] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.http: aiohttp.ClientSession | None = None
        self._ids = itertools.count(1)
        self._receipts: set[str] = set()

    # -- ids, the way Daraja's look -----------------------------------------------------------
    def request_id(self) -> str:
        return f"{secrets.randbelow(90000) + 10000}-{secrets.randbelow(9 * 10**7) + 10**7}-1"

    def checkout_id(self) -> str:
        now = utcnow().astimezone(daraja.NAIROBI)
        return f"ws_CO_{now:%d%m%Y%H%M%S}{now.microsecond // 1000:03d}{next(self._ids):06d}"

    def receipt(self) -> str:
        alphabet = string.ascii_uppercase + string.digits
        while True:
            receipt = "S" + "".join(secrets.choice(alphabet) for _ in range(9))
            if receipt not in self._receipts:
                self._receipts.add(receipt)
                return receipt

    # -- tokens -------------------------------------------------------------------------------
    def issue_token(self) -> str:
        now = asyncio.get_running_loop().time()
        self.tokens = {t: exp for t, exp in self.tokens.items() if exp > now}
        token = secrets.token_hex(14)
        self.tokens[token] = now + self.config.token_ttl
        self.tokens_issued += 1
        return token

    def check_token(self, request: web.Request) -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        expires = self.tokens.get(token) if scheme.lower() == "bearer" else None
        if expires is None or expires <= asyncio.get_running_loop().time():
            raise DarajaError(401, daraja.ERROR_INVALID_TOKEN, "Invalid Access Token")

    # -- outcomes -----------------------------------------------------------------------------
    def outcome_for(self, phone: str) -> Outcome:
        return self.config.outcomes.get(phone, self.config.outcome)

    def start(self, payment: Payment) -> None:
        """Decide ``payment`` after its delay (or when released) and send its callback."""
        self.payments[payment.checkout_request_id] = payment
        task = asyncio.create_task(self._run(payment), name=f"daraja:{payment.checkout_request_id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, payment: Payment) -> None:
        delay = payment.outcome.delay
        if delay is None:
            await payment.release.wait()
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(payment.release.wait(), delay)
        self._decide(payment)
        if payment.outcome.kind != "callback_lost":
            await self.deliver(payment)

    def _decide(self, payment: Payment) -> None:
        code, desc = RESULTS[payment.outcome.kind]
        payment.result_code, payment.result_desc = code, desc
        callback: dict[str, Any] = {
            "MerchantRequestID": payment.merchant_request_id,
            "CheckoutRequestID": payment.checkout_request_id,
            "ResultCode": code,
            "ResultDesc": desc,
        }
        if code == daraja.RESULT_SUCCESS:
            payment.receipt = self.receipt()
            payment.transaction_date = int(daraja.timestamp(utcnow()))
            callback["CallbackMetadata"] = {
                "Item": [
                    {"Name": "Amount", "Value": float(payment.amount)},  # Daraja sends 1.00
                    {"Name": "MpesaReceiptNumber", "Value": payment.receipt},
                    {"Name": "Balance"},
                    {"Name": "TransactionDate", "Value": payment.transaction_date},
                    {"Name": "PhoneNumber", "Value": int(payment.phone)},
                ]
            }
        payment.callback = {"Body": {"stkCallback": callback}}
        log.info(
            "decided checkout=%s outcome=%s result=%s",
            payment.checkout_request_id,
            payment.outcome.kind,
            code,
        )

    async def deliver(self, payment: Payment) -> Delivery:
        """POST the payment's callback once; the result is recorded, never retried."""
        assert payment.callback is not None and self.http is not None
        try:
            async with self.http.post(payment.callback_url, json=payment.callback) as response:
                await response.read()
                delivery = Delivery(utcnow(), response.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            delivery = Delivery(utcnow(), None, f"{type(exc).__name__}: {exc}")
        payment.deliveries.append(delivery)
        log.info(
            "callback checkout=%s status=%s error=%s",
            payment.checkout_request_id,
            delivery.status,
            delivery.error,
        )
        return delivery

    async def close(self) -> None:
        """Cancel every pending decision and wait for them to end."""
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


STATE = web.AppKey("daraja_state", DarajaState)


# -- request bodies ---------------------------------------------------------------------------
async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = msgspec.json.decode(await request.read())
    except (msgspec.DecodeError, RecursionError, web.HTTPRequestEntityTooLarge):
        body = None
    if not isinstance(body, dict):
        raise DarajaError(400, daraja.ERROR_BAD_PAYLOAD, "Invalid Request Payload")
    return body


def _text(body: Mapping[str, Any], name: str, max_length: int = 256) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise _invalid(name)
    return value


def _digits(body: Mapping[str, Any], name: str, pattern: re.Pattern[str]) -> str:
    """A number Daraja takes as a JSON number or a string of digits (shortcodes, phones)."""
    value = body.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise _invalid(name)
    return value


def _amount(body: Mapping[str, Any]) -> int:
    value = body.get("Amount")
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_AMOUNT:
        raise _invalid("Amount")
    return value


def _timestamp(state: DarajaState, body: Mapping[str, Any]) -> str:
    stamp = body.get("Timestamp")
    try:
        at = daraja.parse_timestamp(stamp)  # type: ignore[arg-type]
    except ValueError:
        raise _invalid("Timestamp") from None
    if abs((utcnow() - at).total_seconds()) > state.config.timestamp_tolerance:
        raise _invalid("Timestamp")
    assert isinstance(stamp, str)
    return stamp


def _check_credentials(state: DarajaState, shortcode: str, secret: Any, stamp: str) -> None:
    """The shortcode is ours and Password is base64(shortcode + passkey + Timestamp)."""
    if shortcode != state.config.shortcode:
        raise DarajaError(500, daraja.ERROR_PROCESSING, "Merchant does not exist")
    expected = daraja.password(shortcode, state.config.passkey, stamp)
    if not isinstance(secret, str) or not hmac.compare_digest(secret.encode(), expected.encode()):
        raise DarajaError(500, daraja.ERROR_PROCESSING, "Wrong credentials")


# -- Daraja's endpoints -----------------------------------------------------------------------
async def generate_token(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if request.query.get("grant_type") != "client_credentials":
        raise DarajaError(400, daraja.ERROR_BAD_GRANT, "Invalid grant type passed")
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    try:
        key, sep, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
    except ValueError:  # not base64 (binascii.Error), not ASCII, not UTF-8
        key, sep, secret = "", "", ""
    good = (
        scheme.lower() == "basic"
        and sep == ":"
        and hmac.compare_digest(key.encode(), state.config.consumer_key.encode())
        and hmac.compare_digest(secret.encode(), state.config.consumer_secret.encode())
    )
    if not good:
        raise DarajaError(400, daraja.ERROR_BAD_AUTH, "Invalid Authentication passed")
    token = state.issue_token()
    return web.json_response({"access_token": token, "expires_in": str(state.config.token_ttl)})


async def stk_push(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.check_token(request)
    body = await _json_object(request)
    shortcode = _digits(body, "BusinessShortCode", SHORTCODE_RE)
    secret = _text(body, "Password", 1024)
    stamp = _timestamp(state, body)
    if body.get("TransactionType") not in daraja.TRANSACTION_TYPES:
        raise _invalid("TransactionType")
    amount = _amount(body)
    _digits(body, "PartyA", PHONE_RE)
    _digits(body, "PartyB", SHORTCODE_RE)
    phone = _digits(body, "PhoneNumber", PHONE_RE)
    callback_url = _text(body, "CallBackURL", 2048)
    if not URL_RE.fullmatch(callback_url):
        raise _invalid("CallBackURL")
    reference = _text(body, "AccountReference", 12)
    description = _text(body, "TransactionDesc", 13)
    _check_credentials(state, shortcode, secret, stamp)
    payment = Payment(
        checkout_request_id=state.checkout_id(),
        merchant_request_id=state.request_id(),
        amount=amount,
        phone=phone,
        account_reference=reference,
        description=description,
        callback_url=callback_url,
        outcome=state.outcome_for(phone),
        created_at=utcnow(),
    )
    state.start(payment)
    log.info("stk push checkout=%s amount=%d", payment.checkout_request_id, amount)
    return web.json_response(
        {
            "MerchantRequestID": payment.merchant_request_id,
            "CheckoutRequestID": payment.checkout_request_id,
            "ResponseCode": "0",
            "ResponseDescription": ACCEPTED,
            "CustomerMessage": ACCEPTED,
        }
    )


async def stk_query(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.check_token(request)
    body = await _json_object(request)
    shortcode = _digits(body, "BusinessShortCode", SHORTCODE_RE)
    secret = _text(body, "Password", 1024)
    stamp = _timestamp(state, body)
    checkout_id = _text(body, "CheckoutRequestID", 64)
    _check_credentials(state, shortcode, secret, stamp)
    payment = state.payments.get(checkout_id)
    if payment is None:
        raise _invalid("CheckoutRequestID")
    if not payment.decided:
        raise DarajaError(500, daraja.ERROR_PROCESSING, daraja.STILL_PROCESSING)
    return web.json_response(
        {
            "ResponseCode": "0",
            "ResponseDescription": QUERY_ACCEPTED,
            "MerchantRequestID": payment.merchant_request_id,
            "CheckoutRequestID": payment.checkout_request_id,
            "ResultCode": str(payment.result_code),  # a string here, a number in callbacks
            "ResultDesc": payment.result_desc,
        }
    )


# -- the simulator's knobs --------------------------------------------------------------------
class OutcomeBody(msgspec.Struct, forbid_unknown_fields=True):
    outcome: OutcomeKind
    phone: Annotated[str, msgspec.Meta(pattern=r"^254[17][0-9]{8}$")] | None = None
    delay: Annotated[float, msgspec.Meta(ge=0, le=86400)] | msgspec.UnsetType | None = msgspec.UNSET


def _sim_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def set_outcome(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        body = msgspec.json.decode(await request.read(), type=OutcomeBody)
    except (msgspec.DecodeError, RecursionError, web.HTTPRequestEntityTooLarge) as exc:
        return _sim_error(400, f"invalid body: {exc}")
    default = state.config.outcome
    delay = default.delay if body.delay is msgspec.UNSET else body.delay
    outcome = Outcome(body.outcome, delay)
    if body.phone is None:
        state.config.outcome = outcome
    else:
        state.config.outcomes[body.phone] = outcome
    return web.json_response({"phone": body.phone, "outcome": outcome.kind, "delay": delay})


def _payment(request: web.Request) -> Payment:
    payment = request.app[STATE].payments.get(request.match_info["checkout_id"])
    if payment is None:
        raise web.HTTPNotFound(
            text='{"error": "unknown CheckoutRequestID"}', content_type="application/json"
        )
    return payment


async def settle(request: web.Request) -> web.Response:
    payment = _payment(request)
    if payment.decided:
        return _sim_error(409, "already decided")
    payment.release.set()
    return web.json_response({"checkout_request_id": payment.checkout_request_id})


async def replay(request: web.Request) -> web.Response:
    state = request.app[STATE]
    payment = _payment(request)
    if not payment.decided:
        return _sim_error(409, "not decided yet: nothing to replay")
    delivery = await state.deliver(payment)
    return web.json_response(
        {
            "checkout_request_id": payment.checkout_request_id,
            "status": delivery.status,
            "error": delivery.error,
        }
    )


async def revoke_tokens(request: web.Request) -> web.Response:
    state = request.app[STATE]
    revoked = len(state.tokens)
    state.tokens.clear()
    return web.json_response({"revoked": revoked})


async def list_payments(request: web.Request) -> web.Response:
    payments = request.app[STATE].payments.values()
    return web.json_response({"payments": [p.view() for p in payments]})


@web.middleware
async def daraja_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """A DarajaError becomes Daraja's error body, with a fresh requestId."""
    try:
        return await handler(request)
    except DarajaError as exc:
        body = {
            "requestId": request.app[STATE].request_id(),
            "errorCode": exc.code,
            "errorMessage": exc.message,
        }
        return web.json_response(body, status=exc.status)


def create_daraja_app(config: DarajaConfig | None = None) -> web.Application:
    """The simulator as an aiohttp app; its callback session and tasks end with it."""
    app = web.Application(middlewares=[daraja_errors], client_max_size=MAX_BODY)
    state = DarajaState(config or DarajaConfig())
    app[STATE] = state

    async def callback_session(app: web.Application) -> AsyncIterator[None]:
        timeout = aiohttp.ClientTimeout(total=state.config.callback_timeout)
        state.http = aiohttp.ClientSession(timeout=timeout)
        yield
        await state.close()
        await state.http.close()

    app.cleanup_ctx.append(callback_session)
    app.router.add_get("/oauth/v1/generate", generate_token)
    app.router.add_post("/mpesa/stkpush/v1/processrequest", stk_push)
    app.router.add_post("/mpesa/stkpushquery/v1/query", stk_query)
    app.router.add_post("/sim/outcomes", set_outcome)
    app.router.add_post("/sim/settle/{checkout_id}", settle)
    app.router.add_post("/sim/replay/{checkout_id}", replay)
    app.router.add_post("/sim/tokens/revoke", revoke_tokens)
    app.router.add_get("/sim/payments", list_payments)
    return app


class DarajaSim:
    """The simulator on ``host:port`` (0: a free port) until ``close()``; ``url`` is its base."""

    def __init__(self, config: DarajaConfig | None = None) -> None:
        self.app = create_daraja_app(config)
        self._runner: web.AppRunner | None = None
        self.host: str | None = None
        self.port: int | None = None

    @property
    def state(self) -> DarajaState:
        return self.app[STATE]

    @property
    def config(self) -> DarajaConfig:
        return self.state.config

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the Daraja simulator is not started")
        return f"http://{self.host}:{self.port}"

    def set_outcome(
        self, kind: OutcomeKind, phone: str | None = None, delay: float | None = 0.0
    ) -> None:
        """Like ``POST /sim/outcomes``, from the same process."""
        outcome = Outcome(kind, delay)
        if phone is None:
            self.config.outcome = outcome
        else:
            self.config.outcomes[phone] = outcome

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.host, self.port = host, runner.addresses[0][1]

    async def close(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> DarajaSim:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


# -- CLI --------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m routersim.daraja",
        description="A Safaricom Daraja (M-Pesa STK push) simulator.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8090, help="port; 0 picks a free one")
    parser.add_argument("--consumer-key", default=CONSUMER_KEY)
    parser.add_argument("--consumer-secret", default=CONSUMER_SECRET)
    parser.add_argument("--shortcode", default=daraja.SANDBOX_SHORTCODE)
    parser.add_argument("--passkey", default=daraja.SANDBOX_PASSKEY)
    parser.add_argument(
        "--outcome", default="paid", choices=sorted(RESULTS), help="default outcome"
    )
    parser.add_argument(
        "--delay", type=float, default=2.0, help="seconds before a payment is decided"
    )
    return parser


async def _serve(args: argparse.Namespace) -> int:
    config = DarajaConfig(
        consumer_key=args.consumer_key,
        consumer_secret=args.consumer_secret,
        shortcode=args.shortcode,
        passkey=args.passkey,
        outcome=Outcome(args.outcome, args.delay),
    )
    sim = DarajaSim(config)
    try:
        await sim.start(args.host, args.port)
    except OSError as exc:
        print(f"daraja simulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    try:
        print(f"daraja {sim.url} shortcode={config.shortcode}", flush=True)
        await stopping.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await sim.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port} is out of range")
    if not 0 <= args.delay <= 86_400:
        parser.error("--delay must be 0..86400 seconds")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return asyncio.run(_serve(args))


if __name__ == "__main__":
    sys.exit(main())
