// Tessera's passkey ceremonies in the browser (issue #14). Served from /assets with a content
// hash in its name and run only by pages whose CSP names its nonce. No inline handlers: the
// pages mark their controls with data-passkey="…" and this script finds them.
// Uses @simplewebauthn/browser (the global SimpleWebAuthnBrowser, loaded just before).
(function () {
  'use strict';
  var W = window.SimpleWebAuthnBrowser;

  function show(box, message) {
    if (!box) return;
    // The role only once there is something to say: an empty alert would be one more on the page.
    box.setAttribute('role', 'alert');
    box.textContent = message;
    box.hidden = false;
  }

  async function post(url, body) {
    var res = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
    });
    var data = {};
    try {
      data = await res.json();
    } catch (e) {
      data = {};
    }
    if (!res.ok) throw new Error(data.error_description || text(null, 'generic'));
    return data;
  }

  // The page's words (data-msg-* on the error box, in the page's language; English if absent).
  var FALLBACK = {
    generic: 'Something went wrong. Please try again.',
    cancelled: 'The passkey request was cancelled or timed out.',
    duplicate: 'This passkey is already registered to your account.',
  };
  function text(box, key) {
    var el = box || document.getElementById('passkey-error');
    var attr = el && el.getAttribute('data-msg-' + key);
    return attr || FALLBACK[key];
  }

  // The browser's own refusal (the user cancelled, timed out, or no passkey matched).
  function browserMessage(error, box) {
    if (error && (error.name === 'NotAllowedError' || error.name === 'AbortError')) return text(box, 'cancelled');
    if (error && error.name === 'InvalidStateError') return text(box, 'duplicate');
    return (error && error.message) || text(box, 'generic');
  }

  function busy(button, on) {
    button.disabled = on;
    button.setAttribute('aria-busy', on ? 'true' : 'false');
  }

  // Add a passkey (/account/passkeys): the form holds csrf and the name.
  function wireRegistration(form) {
    var box = document.getElementById(form.getAttribute('data-passkey-error'));
    var button = form.querySelector('button[type="submit"]');
    form.hidden = false;
    form.addEventListener('submit', async function (event) {
      event.preventDefault();
      if (box) box.hidden = true;
      busy(button, true);
      try {
        var csrf = form.elements.namedItem('csrf').value;
        var name = form.elements.namedItem('name').value;
        var options = await post('/webauthn/registration/options', { csrf: csrf });
        var response;
        try {
          response = await W.startRegistration({ optionsJSON: options });
        } catch (error) {
          throw new Error(browserMessage(error));
        }
        var done = await post('/webauthn/registration/verify', { csrf: csrf, name: name, response: response });
        window.location.assign(done.redirect);
      } catch (error) {
        show(box, error.message);
        busy(button, false);
      }
    });
  }

  // An invitation accepted with a passkey instead of a password (/invite): the username comes
  // from the page's form, the link's token and the CSRF token from the button.
  function wireInvite(button) {
    var box = document.getElementById(button.getAttribute('data-passkey-error'));
    var field = document.getElementById(button.getAttribute('data-username-field'));
    button.hidden = false;
    button.addEventListener('click', async function () {
      if (box) box.hidden = true;
      busy(button, true);
      try {
        var body = { csrf: button.getAttribute('data-csrf'), token: button.getAttribute('data-token'), username: field ? field.value : '' };
        // An invitation in a chosen language: the answers (errors, the account's language) stay in it.
        if (button.hasAttribute('data-ui-locales')) body.ui_locales = button.getAttribute('data-ui-locales');
        var options = await post('/invite/passkey/options', body);
        var response;
        try {
          response = await W.startRegistration({ optionsJSON: options });
        } catch (error) {
          throw new Error(browserMessage(error));
        }
        body.response = response;
        var done = await post('/invite/passkey/verify', body);
        window.location.assign(done.redirect);
      } catch (error) {
        show(box, error.message);
        busy(button, false);
      }
    });
  }

  // A sign-in with a passkey: passwordless at /login, or the second step after a password.
  function wireAuthentication(button) {
    var box = document.getElementById(button.getAttribute('data-passkey-error'));
    var base = button.getAttribute('data-passkey-endpoint');
    button.hidden = false;
    button.addEventListener('click', async function () {
      if (box) box.hidden = true;
      busy(button, true);
      try {
        var csrf = button.getAttribute('data-csrf');
        var options = await post(base + '/options', { csrf: csrf });
        var response;
        try {
          response = await W.startAuthentication({ optionsJSON: options });
        } catch (error) {
          throw new Error(browserMessage(error));
        }
        var done = await post(base + '/verify', { csrf: csrf, return_to: button.getAttribute('data-return-to') || undefined, response: response });
        window.location.assign(done.redirect);
      } catch (error) {
        show(box, error.message);
        busy(button, false);
      }
    });
  }

  function start() {
    if (!W || !W.browserSupportsWebAuthn()) {
      var notes = document.querySelectorAll('[data-passkey-unsupported]');
      for (var i = 0; i < notes.length; i++) notes[i].hidden = false;
      return;
    }
    var forms = document.querySelectorAll('form[data-passkey="register"]');
    for (var f = 0; f < forms.length; f++) wireRegistration(forms[f]);
    var buttons = document.querySelectorAll('button[data-passkey="authenticate"]');
    for (var b = 0; b < buttons.length; b++) wireAuthentication(buttons[b]);
    var invites = document.querySelectorAll('button[data-passkey="invite"]');
    for (var i2 = 0; i2 < invites.length; i2++) wireInvite(invites[i2]);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
