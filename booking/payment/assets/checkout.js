(function () {
  "use strict";
  // A second tap on "Pay" while the first is on its way would post the
  // form again; the provider answers the same outcome, but the fan should
  // see that something is happening.
  var form = document.getElementById("pay-form");
  if (!form) return;
  form.addEventListener("submit", function () {
    var button = document.getElementById("pay-button");
    if (!button) return;
    // Disabled after the browser has taken the form's data, so the post
    // goes out as it is.
    setTimeout(function () {
      button.disabled = true;
      button.textContent = "Paying…";
    }, 0);
  });
})();
