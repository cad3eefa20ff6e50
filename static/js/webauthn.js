// X1: browser glue for passkeys and security keys (WebAuthn Level 3).
//
// Loaded from our own origin (CSP `script-src 'self'`, no inline script). It drives
//   <form id="webauthn-form" data-mode="register|authenticate" data-options='{...}'>
//     <input type="hidden" name="credential">
//     <button id="webauthn-start">...</button>
//   </form>
//   <p id="webauthn-error" hidden role="alert"
//      data-not-allowed="..." data-invalid-state="..." data-unsupported="..." data-failed="...">
// data-options is the JSON from idp.twofactor.passkeys.start_registration/start_authentication.
// A click calls navigator.credentials.create/get, puts the RegistrationResponseJSON or
// AuthenticationResponseJSON (§5.1 toJSON()) in the hidden input and submits the form. On
// failure the form stays for another try, and #webauthn-error shows the message of its data-*
// attribute (translated by the template), else the English default below.
(function () {
  "use strict";

  var MESSAGES = {
    "not-allowed": "The security key or passkey was not used, or the time ran out. Try again or choose another method.",
    "invalid-state": "This security key or passkey is already registered.",
    "unsupported": "This browser cannot use passkeys or security keys. Choose another method.",
    "failed": "The security key or passkey could not be used. Try again or choose another method.",
  };

  function toBuffer(base64url) {
    var base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
    var binary = atob(base64 + "===".slice((base64.length + 3) % 4));
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) {
      bytes[i] = binary.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) {
      binary += String.fromCharCode(bytes[i]);
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function toDescriptors(list) {
    return (list || []).map(function (descriptor) {
      return Object.assign({}, descriptor, { id: toBuffer(descriptor.id) });
    });
  }

  // PublicKeyCredentialCreationOptionsJSON -> PublicKeyCredentialCreationOptions (§5.1.9).
  function parseCreationOptions(json) {
    if (typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function") {
      return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    }
    return Object.assign({}, json, {
      challenge: toBuffer(json.challenge),
      user: Object.assign({}, json.user, { id: toBuffer(json.user.id) }),
      excludeCredentials: toDescriptors(json.excludeCredentials),
    });
  }

  // PublicKeyCredentialRequestOptionsJSON -> PublicKeyCredentialRequestOptions (§5.1.10).
  function parseRequestOptions(json) {
    if (typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function") {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    }
    return Object.assign({}, json, {
      challenge: toBuffer(json.challenge),
      allowCredentials: toDescriptors(json.allowCredentials),
    });
  }

  function call(response, method) {
    return typeof response[method] === "function" ? response[method]() : null;
  }

  function encodeOptional(buffer) {
    return buffer ? toBase64url(buffer) : undefined;
  }

  // The manual toJSON() (§5.1.8) for browsers without it.
  function serialize(credential) {
    var response = credential.response;
    var json = {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: { clientDataJSON: toBase64url(response.clientDataJSON) },
    };
    if (response.attestationObject) {
      json.response.attestationObject = toBase64url(response.attestationObject);
      json.response.transports = call(response, "getTransports") || [];
      json.response.authenticatorData = encodeOptional(call(response, "getAuthenticatorData"));
      json.response.publicKey = encodeOptional(call(response, "getPublicKey"));
      json.response.publicKeyAlgorithm = call(response, "getPublicKeyAlgorithm") || undefined;
    } else {
      json.response.authenticatorData = toBase64url(response.authenticatorData);
      json.response.signature = toBase64url(response.signature);
      json.response.userHandle = response.userHandle ? toBase64url(response.userHandle) : null;
    }
    return json;
  }

  function toJSON(credential) {
    if (typeof credential.toJSON === "function") {
      try {
        return credential.toJSON();
      } catch (error) {
        // Some password-manager extensions replace the credential and break toJSON().
      }
    }
    return serialize(credential);
  }

  function messageKey(error) {
    switch (error && error.name) {
      case "NotAllowedError":
      case "AbortError":
        return "not-allowed";
      case "InvalidStateError":
        return "invalid-state";
      case "NotSupportedError":
        return "unsupported";
      default:
        return "failed";
    }
  }

  function setUp(form) {
    var button = document.getElementById("webauthn-start");
    var input = form.querySelector('input[name="credential"]');
    var errorBox = document.getElementById("webauthn-error");
    var isRegistration = form.dataset.mode === "register";
    var isRunning = false;

    function showError(key) {
      if (!errorBox) {
        return;
      }
      var attribute = "data-" + key;
      errorBox.textContent = errorBox.getAttribute(attribute) || MESSAGES[key];
      errorBox.hidden = false;
    }

    function start() {
      if (isRunning) {
        return;
      }
      if (!window.PublicKeyCredential || !navigator.credentials) {
        showError("unsupported");
        return;
      }
      isRunning = true;
      button.disabled = true;
      if (errorBox) {
        errorBox.hidden = true;
      }
      // Parsed afresh for each try: the options hold buffers the browser may detach.
      var ceremony = Promise.resolve().then(function () {
        var options = JSON.parse(form.dataset.options);
        return isRegistration
          ? navigator.credentials.create({ publicKey: parseCreationOptions(options) })
          : navigator.credentials.get({ publicKey: parseRequestOptions(options) });
      });
      ceremony
        .then(function (credential) {
          if (!credential) {
            throw new DOMException("No credential", "NotAllowedError");
          }
          input.value = JSON.stringify(toJSON(credential));
          // The prototype's submit(): a control named "submit" cannot shadow it.
          HTMLFormElement.prototype.submit.call(form);
        })
        .catch(function (error) {
          isRunning = false;
          button.disabled = false;
          showError(messageKey(error));
        });
    }

    button.addEventListener("click", function (event) {
      event.preventDefault();
      start();
    });
    // Enter in the form starts the ceremony rather than posting an empty credential.
    form.addEventListener("submit", function (event) {
      if (!input.value) {
        event.preventDefault();
        start();
      }
    });
  }

  function init() {
    var form = document.getElementById("webauthn-form");
    if (form) {
      setUp(form);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
