// The scrubber an nginx user would write in njs (0.7, ES5-era syntax): parse the batch,
// delete personal keys, serialize, send on with a subrequest, relay the vendor's answer.
var DENY = { email: 1, phone: 1, first_name: 1, last_name: 1, name: 1, address: 1, ip: 1, userid: 1, anonymousid: 1 };

function walk(value) {
  var i, keys;
  if (Array.isArray(value)) {
    for (i = 0; i < value.length; i++) walk(value[i]);
  } else if (value && typeof value === "object") {
    keys = Object.keys(value);
    for (i = 0; i < keys.length; i++) {
      if (DENY[keys[i].toLowerCase()]) delete value[keys[i]];
      else walk(value[keys[i]]);
    }
  }
}

function handle(r) {
  var batch;
  try {
    batch = JSON.parse(r.requestText);
  } catch (e) {
    r.return(400, "bad json");
    return;
  }
  walk(batch);
  r.subrequest("/upstream" + r.uri, { method: "POST", body: JSON.stringify(batch) }, function (reply) {
    r.return(reply.status, reply.responseText);
  });
}

export default { handle };
