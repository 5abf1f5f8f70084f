-- PBX configuration. Lua syntax; every key is optional and shown here with
-- its default. Unknown keys are refused at start. `core show settings`
-- prints what is in force.

pbx = {
  state_dir = "var",            -- pbx.db, voicemail/, run/pbx.ctl live here
  log_level = "notice",         -- error | warning | notice | info | debug
  -- log_file = "var/pbx.log",  -- also log to a file (default when not -f)
  media_workers = 0,            -- RTP threads; 0 = one per core
}

sip = {
  listen = { "udp:0.0.0.0:5060", "tcp:0.0.0.0:5060", "tls:0.0.0.0:5061" },
  domain = "pbx.local",         -- SIP domain and digest realm
  -- Optional: without it a tls: address uses a self-signed certificate
  -- made once in STATE_DIR/tls/pbx.pem (CN = domain) and reused.
  -- tls = { cert = "etc/tls/pbx.pem", key = "etc/tls/pbx.key" },
  max_contacts = 5,             -- per user; the oldest binding is replaced
  min_expires = 60,
  max_expires = 3600,
  default_expires = 3600,
  qualify_interval = 60,        -- OPTIONS ping to each contact; 0 = off
  nonce_lifetime = 300,
  ban_threshold = 10,           -- failed logins from one address ...
  ban_window = 60,              -- ... within this many seconds ...
  ban_time = 600,               -- ... ban it for this long
}

rtp = {
  port_min = 10000,
  port_max = 20000,
  srtp = "optional",            -- default policy: off | optional | mandatory
  timeout = 30,                 -- hang up after this long without RTP
}

dialplan = { file = "etc/extensions.lua" }
