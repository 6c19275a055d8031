"""M-Pesa through Safaricom's Daraja API: OAuth client credentials, M-Pesa Express (STK push),
the STK status query and the callback, as a PaymentProvider.

The access token is cached until 60 s before Daraja's ``expires_in`` and fetched by one caller
at a time; a call answered 401 (or "Invalid Access Token") fetches a new one and is sent once
more. Timestamps are Nairobi local time (``common.daraja``). The callback is Internet input:
it is decoded into bounded msgspec Structs that refuse any field Daraja does not send. Nothing
secret (keys, passkey, password, token) is logged; phone numbers are not logged either.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, TypeVar

import aiohttp
import msgspec

from common import daraja
from common.timeutil import utcnow
from hub.payments.provider import (
    InvalidCallback,
    PaymentResult,
    ProviderError,
    StkAccepted,
    StkRequest,
)

log = logging.getLogger(__name__)

SANDBOX_URL = "https://sandbox.safaricom.co.ke"
TOKEN_MARGIN = 60.0  # seconds before Daraja's expiry that a token is replaced
MAX_REPLY = 64 * 1024  # bytes of a Daraja reply read at most
MAX_CALLBACK = 16 * 1024  # a real callback is well under 1 KiB
# 500.001.1001 covers both "try later" and these, which no retry fixes.
PERMANENT_PROCESSING_ERRORS = ("wrong credentials", "merchant does not exist")

_DIGITS_RE = re.compile(r"[0-9]{5,15}", re.ASCII)
_RECEIPT_RE = re.compile(r"[A-Z0-9]{6,20}", re.ASCII)

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Desc = Annotated[str, msgspec.Meta(max_length=512)]
Code = Annotated[str, msgspec.Meta(max_length=32)] | int


@dataclass(frozen=True, slots=True, kw_only=True)
class DarajaSettings:
    """One Daraja app (consumer key and secret) and the shortcode it collects for."""

    base_url: str = SANDBOX_URL
    consumer_key: str = field(repr=False)
    consumer_secret: str = field(repr=False)
    shortcode: str  # the PayBill (or till) number, 5-7 digits
    passkey: str = field(repr=False)  # the Lipa na M-Pesa Online passkey
    transaction_type: str = daraja.PAYBILL
    timeout: float = 10.0  # seconds per HTTP call to Daraja

    def __post_init__(self) -> None:
        if not re.fullmatch(r"https?://[^\s/?#]+/?", self.base_url, re.ASCII):
            raise ValueError(f"base_url must be http(s)://host[:port], got {self.base_url!r}")
        if not re.fullmatch(r"[0-9]{5,7}", self.shortcode, re.ASCII):
            raise ValueError(f"shortcode must be 5 to 7 digits, got {self.shortcode!r}")
        if self.transaction_type not in daraja.TRANSACTION_TYPES:
            raise ValueError(
                f"transaction_type must be one of {sorted(daraja.TRANSACTION_TYPES)}, "
                f"got {self.transaction_type!r}"
            )
        if not (self.consumer_key and self.consumer_secret and self.passkey):
            raise ValueError("consumer_key, consumer_secret and passkey must not be empty")
        if not self.timeout > 0:
            raise ValueError(f"timeout must be positive, got {self.timeout!r}")


# -- Daraja's replies (from Safaricom: extra fields tolerated) --------------------------------
class _ErrorReply(msgspec.Struct):
    requestId: Annotated[str, msgspec.Meta(max_length=128)] | None = None
    errorCode: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    errorMessage: Annotated[str, msgspec.Meta(max_length=1024)] | None = None


class _TokenReply(msgspec.Struct):
    access_token: Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
    expires_in: Code


class _PushReply(msgspec.Struct):
    MerchantRequestID: Id
    CheckoutRequestID: Id
    ResponseCode: Code
    ResponseDescription: Desc = ""
    CustomerMessage: Desc = ""


class _QueryReply(msgspec.Struct):
    ResponseCode: Code
    ResultCode: Code
    ResultDesc: Desc = ""


# -- the callback (Internet input: exactly Daraja's shape, nothing more) ----------------------
class _Item(msgspec.Struct, forbid_unknown_fields=True):
    Name: Annotated[str, msgspec.Meta(max_length=64)]
    Value: Annotated[str, msgspec.Meta(max_length=64)] | int | float | None = None


class _Metadata(msgspec.Struct, forbid_unknown_fields=True):
    Item: Annotated[list[_Item], msgspec.Meta(max_length=16)]


class _StkCallback(msgspec.Struct, forbid_unknown_fields=True):
    MerchantRequestID: Id
    CheckoutRequestID: Id
    ResultCode: int
    ResultDesc: Desc
    CallbackMetadata: _Metadata | None = None


class _CallbackBody(msgspec.Struct, forbid_unknown_fields=True):
    stkCallback: _StkCallback


class _Callback(msgspec.Struct, forbid_unknown_fields=True):
    Body: _CallbackBody


_CALLBACK_DECODER = msgspec.json.Decoder(_Callback)
_ITEMS = frozenset({"Amount", "MpesaReceiptNumber", "Balance", "TransactionDate", "PhoneNumber"})
_Reply = TypeVar("_Reply", bound=msgspec.Struct)


def _code(value: str | int) -> int | None:
    if isinstance(value, int):
        return value
    return int(value) if value.isascii() and value.lstrip("-").isdigit() else None


class DarajaProvider:
    """M-Pesa Express over Daraja. Give it a session to share one; otherwise it opens its own
    (closed by ``close``)."""

    name = "mpesa"

    def __init__(
        self, settings: DarajaSettings, session: aiohttp.ClientSession | None = None
    ) -> None:
        self.settings = settings
        self._session = session
        self._owns_session = session is None
        self._base = settings.base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout)
        self._token: str | None = None
        self._token_expires = 0.0  # loop time
        self._token_lock = asyncio.Lock()

    # -- the interface ------------------------------------------------------------------------
    async def stk_push(self, request: StkRequest) -> StkAccepted:
        """Prompt the customer's phone; Daraja answers at once, the outcome comes later."""
        _check_request(request)
        stamp = daraja.timestamp(utcnow())
        s = self.settings
        payload = {
            "BusinessShortCode": int(s.shortcode),
            "Password": daraja.password(s.shortcode, s.passkey, stamp),
            "Timestamp": stamp,
            "TransactionType": s.transaction_type,
            "Amount": request.amount,
            "PartyA": int(request.phone),
            "PartyB": int(s.shortcode),
            "PhoneNumber": int(request.phone),
            "CallBackURL": request.callback_url,
            "AccountReference": request.account_reference,
            "TransactionDesc": request.description,
        }
        status, body = await self._authorized("/mpesa/stkpush/v1/processrequest", payload)
        if status != 200:
            raise _refusal("the STK push", status, _error(body))
        reply = _decode(body, _PushReply, "the STK push")
        if _code(reply.ResponseCode) != 0:
            raise ProviderError(
                f"M-Pesa did not accept the STK push: {reply.ResponseDescription} "
                f"(ResponseCode {reply.ResponseCode})",
                retryable=False,
                code=str(reply.ResponseCode),
            )
        log.info("stk push accepted checkout=%s amount=%d", reply.CheckoutRequestID, request.amount)
        return StkAccepted(
            checkout_request_id=reply.CheckoutRequestID,
            merchant_request_id=reply.MerchantRequestID,
            customer_message=reply.CustomerMessage or reply.ResponseDescription,
        )

    async def query(self, checkout_request_id: str) -> PaymentResult:
        """Ask Daraja how the payment ended: for payments whose callback never came."""
        if not (isinstance(checkout_request_id, str) and 1 <= len(checkout_request_id) <= 64):
            raise ProviderError(
                f"invalid CheckoutRequestID {checkout_request_id!r:.80}", retryable=False
            )
        stamp = daraja.timestamp(utcnow())
        s = self.settings
        payload = {
            "BusinessShortCode": int(s.shortcode),
            "Password": daraja.password(s.shortcode, s.passkey, stamp),
            "Timestamp": stamp,
            "CheckoutRequestID": checkout_request_id,
        }
        status, body = await self._authorized("/mpesa/stkpushquery/v1/query", payload)
        if status != 200:
            error = _error(body)
            message = (error.errorMessage or "").lower()
            if error.errorCode == daraja.ERROR_PROCESSING and "being processed" in message:
                return PaymentResult(
                    checkout_request_id=checkout_request_id,
                    status="pending",
                    result_code=None,
                    result_desc=error.errorMessage or daraja.STILL_PROCESSING,
                )
            raise _refusal("the STK query", status, error)
        reply = _decode(body, _QueryReply, "the STK query")
        code = _code(reply.ResultCode)
        if code is None:
            raise ProviderError(
                f"M-Pesa answered the STK query with ResultCode {reply.ResultCode!r}",
                retryable=True,
            )
        log.info("stk query checkout=%s result=%d", checkout_request_id, code)
        if code == daraja.RESULT_STILL_PROCESSING:
            return PaymentResult(
                checkout_request_id=checkout_request_id,
                status="pending",
                result_code=None,
                result_desc=reply.ResultDesc or daraja.STILL_PROCESSING,
            )
        return PaymentResult(
            checkout_request_id=checkout_request_id,
            status="completed" if code == daraja.RESULT_SUCCESS else "failed",
            result_code=code,
            result_desc=reply.ResultDesc,
        )

    def parse_callback(self, body: bytes) -> PaymentResult:
        """The outcome a Daraja callback body carries; InvalidCallback if it is not one."""
        if len(body) > MAX_CALLBACK:
            raise InvalidCallback(f"callback body over {MAX_CALLBACK} bytes")
        try:
            callback = _CALLBACK_DECODER.decode(body).Body.stkCallback
        except (msgspec.DecodeError, RecursionError) as exc:
            raise InvalidCallback(f"not a Daraja STK callback: {exc}") from None
        base = {
            "checkout_request_id": callback.CheckoutRequestID,
            "result_code": callback.ResultCode,
            "result_desc": callback.ResultDesc,
        }
        if callback.ResultCode != daraja.RESULT_SUCCESS:
            if callback.CallbackMetadata is not None:
                raise InvalidCallback("a failed payment's callback carries CallbackMetadata")
            return PaymentResult(status="failed", **base)
        if callback.CallbackMetadata is None:
            raise InvalidCallback("a successful payment's callback lacks CallbackMetadata")
        items = _items(callback.CallbackMetadata)
        return PaymentResult(
            status="completed",
            amount=_callback_amount(items.get("Amount")),
            receipt=_callback_receipt(items.get("MpesaReceiptNumber")),
            phone=_callback_phone(items.get("PhoneNumber")),
            paid_at=_callback_time(items.get("TransactionDate")),
            **base,
        )

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            session, self._session = self._session, None
            await session.close()

    # -- HTTP ---------------------------------------------------------------------------------
    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def _send(self, method: str, path: str, **kwargs: Any) -> tuple[int, bytes]:
        """One HTTP call: (status, body). Timeouts and connection errors are retryable."""
        try:
            async with self._http().request(
                method, self._base + path, timeout=self._timeout, **kwargs
            ) as response:
                body = bytearray()
                async for chunk in response.content.iter_chunked(8192):
                    body += chunk
                    if len(body) > MAX_REPLY:
                        raise ProviderError(
                            f"M-Pesa's reply to {path} is over {MAX_REPLY} bytes", retryable=True
                        )
                return response.status, bytes(body)
        except TimeoutError:
            log.warning("daraja timeout path=%s after=%gs", path, self.settings.timeout)
            raise ProviderError(
                f"M-Pesa did not answer {path} within {self.settings.timeout:g} s", retryable=True
            ) from None
        except aiohttp.ClientError as exc:
            log.warning("daraja unreachable path=%s error=%s", path, type(exc).__name__)
            raise ProviderError(f"M-Pesa cannot be reached: {exc}", retryable=True) from exc

    async def _access_token(self, stale: str | None = None) -> str:
        """A valid token; ``stale`` is one Daraja refused, so it is not handed out again."""
        async with self._token_lock:
            now = asyncio.get_running_loop().time()
            if self._token is not None and self._token != stale and now < self._token_expires:
                return self._token
            self._token = None
            s = self.settings
            status, body = await self._send(
                "GET",
                "/oauth/v1/generate",
                params={"grant_type": "client_credentials"},
                headers={"Authorization": daraja.basic_auth(s.consumer_key, s.consumer_secret)},
            )
            if status != 200:
                raise _refusal("the consumer key and secret", status, _error(body))
            reply = _decode(body, _TokenReply, "the OAuth request")
            expires_in = _code(reply.expires_in)
            if expires_in is None:
                raise ProviderError(f"M-Pesa sent expires_in {reply.expires_in!r}", retryable=True)
            self._token = reply.access_token
            self._token_expires = now + max(expires_in - TOKEN_MARGIN, 0.0)
            log.info("daraja token fetched expires_in=%d", expires_in)
            return self._token

    async def _authorized(self, path: str, payload: dict[str, Any]) -> tuple[int, bytes]:
        """POST with the bearer token; a refused token is replaced once and the call resent."""
        token = await self._access_token()
        data = msgspec.json.encode(payload)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        status, body = await self._send("POST", path, data=data, headers=headers)
        if status == 401 or _error(body).errorCode == daraja.ERROR_INVALID_TOKEN:
            log.info("daraja token refused path=%s: fetching a new one", path)
            token = await self._access_token(stale=token)
            headers["Authorization"] = f"Bearer {token}"
            status, body = await self._send("POST", path, data=data, headers=headers)
        return status, body


def _check_request(request: StkRequest) -> None:
    """What Daraja would refuse anyway, refused before a round trip."""
    problems = []
    if (
        isinstance(request.amount, bool)
        or not isinstance(request.amount, int)
        or request.amount < 1
    ):
        problems.append("amount must be a positive whole number")
    if not (isinstance(request.phone, str) and _DIGITS_RE.fullmatch(request.phone)):
        problems.append("phone must be E.164 digits without '+'")
    if not (
        isinstance(request.account_reference, str) and 1 <= len(request.account_reference) <= 12
    ):
        problems.append("account_reference must be 1 to 12 characters")
    if not (isinstance(request.description, str) and 1 <= len(request.description) <= 13):
        problems.append("description must be 1 to 13 characters")
    if not (
        isinstance(request.callback_url, str)
        and re.fullmatch(r"https?://\S+", request.callback_url, re.ASCII)
    ):
        problems.append("callback_url must be an http(s) URL")
    if problems:
        raise ProviderError("invalid STK request: " + "; ".join(problems), retryable=False)


def _error(body: bytes) -> _ErrorReply:
    """Daraja's {requestId, errorCode, errorMessage}, or an empty one if the body is not it."""
    try:
        return msgspec.json.decode(body, type=_ErrorReply)
    except (msgspec.DecodeError, RecursionError):
        return _ErrorReply()


def _refusal(what: str, status: int, error: _ErrorReply) -> ProviderError:
    """A non-200 answer as a ProviderError: 5xx and 429 may pass, other 4xx will not."""
    message = error.errorMessage or "no error message"
    retryable = status >= 500 or status == 429
    if error.errorCode == daraja.ERROR_PROCESSING and any(
        permanent in message.lower() for permanent in PERMANENT_PROCESSING_ERRORS
    ):
        retryable = False
    log.warning(
        "daraja refused what=%s status=%d code=%s request=%s",
        what,
        status,
        error.errorCode,
        error.requestId,
    )
    return ProviderError(
        f"M-Pesa refused {what}: {message} ({error.errorCode or 'no code'}, HTTP {status})",
        retryable=retryable,
        code=error.errorCode,
    )


def _decode(body: bytes, kind: type[_Reply], what: str) -> _Reply:
    try:
        return msgspec.json.decode(body, type=kind)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise ProviderError(
            f"M-Pesa's answer to {what} is not valid: {exc}", retryable=True
        ) from None


def _items(metadata: _Metadata) -> dict[str, str | int | float | None]:
    items: dict[str, str | int | float | None] = {}
    for item in metadata.Item:
        if item.Name not in _ITEMS:
            raise InvalidCallback(f"unexpected CallbackMetadata item {item.Name!r}")
        if item.Name in items:
            raise InvalidCallback(f"CallbackMetadata item {item.Name!r} appears twice")
        items[item.Name] = item.Value
    return items


def _callback_amount(value: object) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or value < 1:
        raise InvalidCallback(f"Amount must be a positive whole number, got {value!r}")
    return value


def _callback_receipt(value: object) -> str:
    if not (isinstance(value, str) and _RECEIPT_RE.fullmatch(value)):
        raise InvalidCallback(f"MpesaReceiptNumber is invalid: {value!r}")
    return value


def _callback_phone(value: object) -> str:
    text = str(value) if isinstance(value, int) else value
    if not (isinstance(text, str) and _DIGITS_RE.fullmatch(text)):
        raise InvalidCallback(f"PhoneNumber is invalid: {value!r}")
    return text


def _callback_time(value: object) -> datetime:
    text = str(value) if isinstance(value, int) else value
    try:
        return daraja.parse_timestamp(text)  # type: ignore[arg-type]
    except ValueError:
        raise InvalidCallback(f"TransactionDate is invalid: {value!r}") from None
