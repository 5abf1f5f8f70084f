-- PBX configuration. Lua syntax; every key is optional and shown here with
-- its default. Unknown keys are refused at start. `core show settings`
-- prints what is in force. Paths are relative to this file's folder.

pbx = {
  state_dir = "../var",         -- pbx.db, voicemail/, run/pbx.ctl live here
  log_level = "notice",         -- error | warning | notice | info | debug
  -- log_file = "../var/pbx.log", -- also log to a file (default when not -f)
  media_workers = 0,            -- RTP threads; 0 = one per core
}

sip = {
  listen = { "udp:0.0.0.0:5060", "tcp:0.0.0.0:5060", "tls:0.0.0.0:5061" },
  domain = "pbx.local",         -- SIP domain and digest realm
  -- Optional: without it a tls: address uses a self-signed certificate
  -- made once in STATE_DIR/tls/pbx.pem (CN = domain) and reused.
  -- tls = { cert = "tls/pbx.pem", key = "tls/pbx.key" },
  max_contacts = 5,             -- per user; the oldest binding is replaced
  min_expires = 60,
  max_expires = 3600,
  default_expires = 3600,
  qualify_interval = 60,        -- OPTIONS ping to each contact; 0 = off
  nonce_lifetime = 300,
  -- Digest algorithms offered, in order. MD5 alone by default: many phones
  -- give up on any challenge they do not know. { "SHA-256", "MD5" } offers
  -- both (RFC 8760); `user set EXT auth sha-256` does it for one user.
  auth_algorithms = { "MD5" },
  -- Failed logins: counted per (address, user), so one phone with a wrong
  -- password behind a NAT does not lock out its neighbours.
  ban_threshold = 10,           -- failures of one user from one address ban that pair
  ban_users = 5,                -- this many users failing from one address ban it
  ban_threshold_address = 50,   -- failures from one address, any users, ban it
  ban_window = 60,              -- ... within this many seconds ...
  ban_time = 600,               -- ... for this long
  -- Networks (CIDR, IPv4 or IPv6) never counted nor banned, as fail2ban's
  -- ignoreip: loopback by default; add the office LAN, a monitoring host.
  ban_ignore = { "127.0.0.0/8", "::1/128" },
}

rtp = {
  port_min = 10000,
  port_max = 20000,
  srtp = "optional",            -- default policy: off | optional | mandatory
  timeout = 30,                 -- hang up after this long without RTP
  -- Codecs used with phones, best first: the first a calling phone offers
  -- is taken; a called phone is offered them all. "pcmu", "pcma": G.711.
  codecs = { "opus", "g722", "pcmu", "pcma" },
}

dialplan = { file = "extensions.lua" }

voicemail = {
  max_messages = 100,           -- per mailbox (`user set EXT max_messages N` for one user)
  min_seconds = 1,              -- shorter messages are discarded
  max_seconds = 300,            -- a message ends at this length
  silence_seconds = 10,         -- this much silence ends a message; 0 = never
  -- Mail a new message to the user's address (`user set EXT email ...`).
  -- email = {
  --   server = "mail.example.com", port = 587,
  --   security = "starttls",    -- none | try (STARTTLS when offered) | starttls | tls
  --   user = "pbx", password = "secret",
  --   from = "pbx-voicemail@example.com",
  --   subject = "New voicemail from ${VM_CALLERID} in mailbox ${VM_MAILBOX}",
  --   attach = true,            -- the message's WAV
  --   retry_seconds = 60, max_tries = 10,
  -- },
}

-- Instant messages (SIP MESSAGE) kept for users who are offline, until they
-- register again. `message show queue` lists them. (Routing MESSAGE through
-- the PBX is not built yet; this is the queue it will use.)
messaging = {
  store_days = 7,               -- then an undelivered message expires; 0 = keep until delivered
  max_stored = 100,             -- per user; more are refused
}

-- In-call feature codes, for calls placed by app.dial with option t (the
-- callee may transfer) or T (the caller may). Codes are 1 to 8 keys of
-- 0-9 * #; keys that begin a code are held back until it is complete (then
-- the other party never hears them) or stops matching.
features = {
  blind_transfer = "##",        -- then the target number, '#' or a pause ends it
  attended_transfer = "*2",     -- consult the target first; hang up to complete
  abort_transfer = "*3",        -- during an attended transfer: back to the held party
  digit_timeout = 3000,         -- ms between keys of a code or of the target number
}
