// Sends a SAML message on by submitting the page's form (the HTTP-POST binding).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var form = document.querySelector("form[data-autosubmit='yes']");
  if (form) { form.submit(); }
});
