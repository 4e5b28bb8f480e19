// The admin shows times in the operator's time zone: tell the server the browser's (mcpadmin.adminkit reads it).
(function () {
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (zone && document.cookie.split("; ").indexOf("mcpadmin_tz=" + zone) < 0) {
    document.cookie = "mcpadmin_tz=" + zone + "; path=/admin/; max-age=31536000; SameSite=Lax";
  }
})();
