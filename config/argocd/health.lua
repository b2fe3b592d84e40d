-- ArgoCD health check for anycast.dev AnycastClass and AnycastIngress (the same script serves
-- both kinds). ArgoCD sets the global `obj` to the live object and reads the returned table
-- {status = "Healthy" | "Progressing" | "Degraded", message = "..."}.
--
-- kstatus-compatible: status is trusted only when it describes the current spec
-- (status.observedGeneration and the Ready condition's observedGeneration equal
-- metadata.generation); Ready decides, Accepted=False (the spec is refused) is a failure.
--
--   Progressing  no status yet; status older than the spec; being deleted; Ready not True
--                with a reason that resolves by itself (a member still connecting, objects
--                still being applied, an address not allocated yet) or an unknown reason
--   Degraded     Accepted=False: the spec is refused and a person must change it (address in
--                use, class not found, namespace not allowed, a field the member's MetalLB
--                mode rejects, ...); Ready not True with a reason that needs a person,
--                including the routers not carrying the VIP from the serving members
--   Healthy      Ready=True for the current generation
--
-- The reasons are those of the operator's conditions; docs/troubleshooting.md explains each
-- one and docs/gitops.md this mapping. test/packaging checks that every reason the
-- operator's code defines is listed here.

-- Reasons of a condition that is not True. A reason missing from both tables is treated as
-- in progress, except for Accepted=False, which is always a failure.
local inProgress = {
  Pending = true,               -- a condition is not reported yet
  PartiallyProgrammed = true,   -- some members do not hold every object yet
  MemberUnavailable = true,     -- a member cannot be reached right now
  Unreachable = true,           -- a member's API server does not answer
  Connecting = true,            -- the hub is connecting to a member
  AddressNotAllocated = true,   -- the VIP is being allocated
  ClassDeleting = true,         -- the class is being deleted
  InUse = true,                 -- the class waits for its ingresses to go before deletion
  LinkPending = true,           -- Skupper links are being established
  RedemptionFailed = true,      -- a Skupper token was refused; a new grant is issued
  NoWatcher = true,             -- no BGP watcher session configured or up yet
  SessionsDown = true,          -- watcher sessions to the routers are not (yet) established
  SpeakerSessionsDown = true,   -- some speaker sessions are down; every member keeps one up
  WatcherNotEstablished = true, -- no watcher session is up: the routers' view is unknown
  WatcherSyncing = true,        -- watcher sessions just came up and still receive the table
  MembersUnhealthy = true,      -- a member just turned unhealthy; withdrawn if it lasts
  WithdrawalPending = true,     -- a withdrawn member's path is still leaving the routers
  Drained = true,               -- (status.clusters[].withdrawnReason) drained in the spec
  ClusterDrained = true,        -- (status.clusters[].withdrawnReason) drained by the class
  Unhealthy = true,             -- (status.clusters[].withdrawnReason) withdrawn for its health
  AllMembersHealthy = true,     -- (a True reason) every serving member can serve
  MembersAwaitingHealth = true, -- a member waits for its first health before it advertises
  AwaitingHealth = true,        -- (status.clusters[].withdrawnReason) not advertised yet
  MetalLBConfigValid = true,    -- (a True reason) every member's MetalLB accepts its config
  NoneUnexpected = true,        -- (a True reason) nothing in the pools that no ingress explains
}

local needsPerson = {
  PoolOverlap = true,           -- another MetalLB pool on a member covers the VIP
  MetalLBConfigRejected = true, -- a member's MetalLB rejects its whole configuration
  NoMemberHealthy = true,       -- no member has ever been healthy: the VIP is advertised nowhere
  AddressInUse = true,
  InvalidRoute = true,          -- a route does not fit its listener (TLS passthrough: no path, no gRPC, a hostname)
  CertificateNotFound = true,   -- a listener's certificate Secret is missing or unusable on the hub
  CertificateNotReadable = true, -- the operator may not read Secrets of the ingress namespace on the hub
  AddressNotInPool = true,
  PoolExhausted = true,
  ClassNotFound = true,
  NamespaceNotAllowed = true,
  UnsupportedByMetalLBMode = true,
  NameConflict = true,
  PeerConflict = true,          -- another class holds the member's BGP setup
  SessionConflict = true,       -- another class's watcher holds the router session
  PasswordSecretNotFound = true,
  UnknownCluster = true,
  NoServingCluster = true,
  InvalidSpec = true,
  NotAccepted = true,
  ApplyFailed = true,
  RemoteMembersNotEnabled = true,
  KubeconfigSecretNotFound = true,
  KubeconfigKeyMissing = true,
  BadKubeconfig = true,
  BadCertificate = true,
  Unauthorized = true,
  Forbidden = true,
  MissingCRDs = true,
  InvalidWatcher = true,        -- spec.watcher cannot be configured
  WatcherFailed = true,         -- the watcher refused its configuration
  BMPListenFailed = true,       -- the watcher's BMP collector cannot listen on its port
  NotAdvertised = true,         -- the routers see the VIP from no serving member: an outage
  Degraded = true,              -- the routers miss some serving members
  StillAdvertised = true,       -- drained members are still seen as origins
  MembersWithdrawn = true,      -- members cannot serve and are withdrawn: capacity is reduced
  AllMembersUnhealthy = true,   -- no member can serve; all keep advertising: an outage
  SiteError = true,             -- a Skupper Site is in Error: it cannot link or serve
  InvalidReceiveFilter = true,  -- a receive prefix no peer of the member can send
  NoSessionToTOR = true,        -- a member has no Established session to its TORs: it carries no traffic
  UnexpectedOrigins = true,     -- the routers carry pool prefixes no ingress explains (reported only)
}

local function describe(c)
  local s = c.type .. "=" .. tostring(c.status)
  if c.reason ~= nil and c.reason ~= "" then
    s = s .. " (" .. c.reason .. ")"
  end
  if c.message ~= nil and c.message ~= "" then
    s = s .. ": " .. c.message
  end
  return s
end

local function health(o)
  local meta = o.metadata or {}
  if meta.deletionTimestamp ~= nil then
    return "Progressing", "Deleting: the operator removes what it applied on every member"
  end
  local gen = meta.generation
  local st = o.status
  if st == nil or st.conditions == nil or #st.conditions == 0 then
    return "Progressing", "Waiting for the operator to report status"
  end
  if gen ~= nil and st.observedGeneration ~= nil and st.observedGeneration < gen then
    return "Progressing", "Waiting for the operator to observe generation " .. gen ..
      " (status is for generation " .. st.observedGeneration .. ")"
  end
  local conds = {}
  for _, c in ipairs(st.conditions) do
    if c.type ~= nil then
      conds[c.type] = c
    end
  end
  local ready = conds["Ready"]
  if ready == nil then
    return "Progressing", "Waiting for the Ready condition"
  end
  if gen ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration < gen then
    return "Progressing", "Waiting for the operator to observe generation " .. gen ..
      " (Ready is for generation " .. ready.observedGeneration .. ")"
  end
  local accepted = conds["Accepted"]
  if accepted ~= nil and accepted.status == "False" and not inProgress[accepted.reason or ""] then
    return "Degraded", describe(accepted)
  end
  if ready.status == "True" then
    local msg = "Ready"
    if o.kind == "AnycastIngress" and st.address ~= nil and st.address ~= "" then
      msg = msg .. ": " .. st.address
    end
    local drained = conds["Drained"]
    if drained ~= nil and drained.status == "True" and drained.message ~= nil and drained.message ~= "" then
      msg = msg .. " (drained: " .. drained.message .. ")"
    end
    return "Healthy", msg
  end
  if needsPerson[ready.reason or ""] then
    return "Degraded", describe(ready)
  end
  return "Progressing", describe(ready)
end

local hs = {}
hs.status, hs.message = health(obj)
return hs
