// Passkey sign-in on the hosted pages. The server begins a ceremony at
// /api/v1/passkeys/authenticate/begin; the browser asks the authenticator; the answer is posted
// with the page's own form to /login/passkey, which signs the browser in.
// Where the browser supports it, the sign-in page also offers passkeys in the email field's
// autofill (conditional mediation).
"use strict";

(function () {
  const form = document.getElementById("passkey-form");
  const button = document.getElementById("passkey-signin");
  const problem = document.getElementById("passkey-error");
  if (!form || !window.PublicKeyCredential) {
    if (button) button.hidden = true;
    return;
  }

  const toBytes = (text) => {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "===".slice((base64.length + 3) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  };
  const toText = (buffer) => {
    let binary = "";
    for (const byte of new Uint8Array(buffer)) binary += String.fromCharCode(byte);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };

  let pending = null;

  async function begin(body) {
    const response = await fetch("/api/v1/passkeys/authenticate/begin", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.detail || "The passkey sign-in could not start.");
    const options = answer.publicKey;
    options.challenge = toBytes(options.challenge);
    for (const allowed of options.allowCredentials || []) allowed.id = toBytes(allowed.id);
    return { ceremony: answer.ceremony_id, options };
  }

  async function signIn(body, mediation) {
    if (pending) pending.abort();
    pending = new AbortController();
    const { ceremony, options } = await begin(body);
    const request = { publicKey: options, signal: pending.signal };
    if (mediation) request.mediation = mediation;
    const credential = await navigator.credentials.get(request);
    if (!credential) return;
    const reply = credential.response;
    form.elements.ceremony_id.value = ceremony;
    form.elements.credential.value = JSON.stringify({
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      extensions: credential.getClientExtensionResults(),
      response: {
        authenticatorData: toText(reply.authenticatorData),
        clientDataJSON: toText(reply.clientDataJSON),
        signature: toText(reply.signature),
        userHandle: reply.userHandle ? toText(reply.userHandle) : null,
      },
    });
    form.submit();
  }

  const show = (error) => {
    if (error && error.name === "AbortError") return;
    problem.textContent = (error && error.message) || "The passkey sign-in failed.";
    problem.hidden = false;
  };

  if (button) {
    button.addEventListener("click", () => {
      problem.hidden = true;
      const token = button.dataset.mfaToken;
      signIn(token ? { mfa_token: token } : {}, null).catch(show);
    });
  }

  // Autofill is offered to a browser not signed in yet (a signed-in page offers the button).
  const email = document.querySelector("#email[data-passkey-autofill]");
  if (email && PublicKeyCredential.isConditionalMediationAvailable) {
    PublicKeyCredential.isConditionalMediationAvailable().then((available) => {
      if (available) signIn({}, "conditional").catch(() => {});
    });
  }
})();
