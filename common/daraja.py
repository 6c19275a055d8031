"""Safaricom Daraja (M-Pesa Express, STK push) facts both sides need: the hub's provider and
routersim's Daraja simulator spell the password, the timestamp and the codes the same way.

Daraja's ``Timestamp`` is ``yyyymmddHHMMSS`` in Kenyan local time (Africa/Nairobi, UTC+3, no
DST), and so is the callback's ``TransactionDate``; ``Password`` is
base64(BusinessShortCode + passkey + Timestamp).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

NAIROBI = ZoneInfo("Africa/Nairobi")
TIMESTAMP_FORMAT = "%Y%m%d%H%M%S"

# The sandbox's published test shortcode and Lipa na M-Pesa passkey (public, not a secret).
SANDBOX_SHORTCODE = "174379"
SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"

PAYBILL = "CustomerPayBillOnline"
BUY_GOODS = "CustomerBuyGoodsOnline"
TRANSACTION_TYPES = frozenset({PAYBILL, BUY_GOODS})

# ResultCode of an STK callback or query (transaction outcome).
RESULT_SUCCESS = 0
RESULT_INSUFFICIENT_FUNDS = 1
RESULT_CANCELLED = 1032
RESULT_UNREACHABLE = 1037  # "DS timeout user cannot be reached": no answer from the handset
RESULT_WRONG_PIN = 2001
# Some integrations report the query answering 200 with this while the payment is in progress,
# instead of the documented 500.001.1001: read as "pending" too, never as a failure.
RESULT_STILL_PROCESSING = 4999

# errorCode of a refused API call ({"requestId", "errorCode", "errorMessage"}).
ERROR_BAD_REQUEST = "400.002.02"  # "Bad Request - Invalid <Field>"
ERROR_BAD_PAYLOAD = "400.002.05"  # "Invalid Request Payload"
ERROR_BAD_AUTH = "400.008.01"  # OAuth: missing or wrong Basic credentials
ERROR_BAD_GRANT = "400.008.02"  # OAuth: grant_type is not client_credentials
ERROR_INVALID_TOKEN = "404.001.03"  # "Invalid Access Token": missing, unknown or expired
ERROR_PROCESSING = "500.001.1001"  # still processing (query), wrong credentials, ...
STILL_PROCESSING = "The transaction is being processed"


def timestamp(at: datetime) -> str:
    """Daraja's ``Timestamp`` for the aware time ``at``: Nairobi local ``yyyymmddHHMMSS``."""
    if at.utcoffset() is None:
        raise ValueError(f"expected an aware datetime, got {at!r}")
    return at.astimezone(NAIROBI).strftime(TIMESTAMP_FORMAT)


def parse_timestamp(text: str) -> datetime:
    """The aware UTC time of a Nairobi ``yyyymmddHHMMSS`` (a Timestamp or TransactionDate)."""
    if not (isinstance(text, str) and len(text) == 14 and text.isascii() and text.isdigit()):
        raise ValueError(f"expected 14 digits yyyymmddHHMMSS, got {text!r}")
    local = datetime.strptime(text, TIMESTAMP_FORMAT)  # ValueError on a day or hour past range
    try:
        return local.replace(tzinfo=NAIROBI).astimezone(UTC)
    except OverflowError:  # 0001-01-01 local is before UTC's year 1
        raise ValueError(f"{text!r} is out of range") from None


def password(shortcode: str, passkey: str, stamp: str) -> str:
    """Daraja's STK ``Password``: base64(shortcode + passkey + timestamp)."""
    return base64.b64encode(f"{shortcode}{passkey}{stamp}".encode()).decode("ascii")


def basic_auth(consumer_key: str, consumer_secret: str) -> str:
    """The OAuth call's ``Authorization`` header value: Basic base64(key:secret)."""
    pair = f"{consumer_key}:{consumer_secret}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")
