/* The captive portal: pay by M-Pesa, wait for the payment and the router, or post a voucher
   code to the router's own login form. No framework: it loads before the client is online. */
(function () {
  "use strict";
  var POLL_MS = 2000;
  var FINAL = { failed: 1, cancelled: 1, timeout: 1 };
  var pay = document.getElementById("pay");
  var box = document.getElementById("message");
  var texts = document.getElementById("texts").dataset;
  var voucher = document.getElementById("voucher");

  function show(text, kind) {
    box.textContent = text;
    box.className = "notice " + (kind || "");
    box.hidden = false;
  }

  function busy(on) {
    var button = document.getElementById("pay-button");
    if (button) button.disabled = on;
  }

  function words(state) {
    if (state.status === "failed" && state.reason === "insufficient_funds") return texts.insufficientFunds;
    if (state.status === "failed" && state.reason === "wrong_pin") return texts.wrongPin;
    return texts[state.status] || texts.error;
  }

  function online(state) {
    document.getElementById("buy").hidden = true;
    var until = document.getElementById("online-until");
    if (state.expires_at) {
      var when = new Date(state.expires_at).toLocaleString(document.documentElement.lang);
      until.textContent = texts.until.replace("{time}", when);
      until.hidden = false;
    }
    document.getElementById("online").hidden = false;
  }

  function poll(url) {
    fetch(url, { cache: "no-store" })
      .then(function (r) {
        if (r.status === 429) return { status: "pending" };
        if (!r.ok) throw new Error("status " + r.status);
        return r.json();
      })
      .then(function (state) {
        if (state.status === "online") return online(state);
        var final = FINAL[state.status] === 1;
        show(words(state), final ? "bad" : "wait");
        if (final) return busy(false);
        setTimeout(function () { poll(url); }, POLL_MS);
      })
      .catch(function () { setTimeout(function () { poll(url); }, 2 * POLL_MS); });
  }

  function refused(status, body) {
    var error = (body && body.error) || "";
    if (status === 429) return texts.busy;
    if (status === 503) return texts.unavailable;
    if (status === 400 && error.indexOf("phone") === 0) return texts.badPhone;
    return error || texts.error;
  }

  if (pay) pay.addEventListener("submit", function (event) {
    event.preventDefault();
    var plan = pay.querySelector("input[name=plan_id]:checked");
    if (!plan) return;
    busy(true);
    show(texts.sending, "wait");
    var body = {
      plan_id: Number(plan.value),
      phone: pay.elements.phone.value,
      mac: pay.dataset.mac,
      ip: pay.dataset.ip || null,
      router: Number(pay.dataset.router)
    };
    fetch(pay.dataset.payUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (answer) {
          if (!r.ok) { busy(false); return show(refused(r.status, answer), "bad"); }
          show(texts.pending, "wait");
          poll(pay.dataset.statusUrl + encodeURIComponent(answer.payment));
        });
      })
      .catch(function () { busy(false); show(texts.error, "bad"); });
  });

  if (voucher) voucher.addEventListener("submit", function () {
    var code = voucher.elements.username;
    code.value = code.value.trim();
    voucher.elements.password.value = code.value; /* a voucher's password is its code */
  });
})();
