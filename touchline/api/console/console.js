// The touchline agent console: one page, no framework, no build step.
//
// Everything a customer's data puts on the page goes in as text (el() makes
// text nodes), never as markup: a summary that holds "<script>" shows it.
// The API key stays in this tab's sessionStorage and goes out as a Bearer
// header on every call, the live stream included (EventSource cannot send
// one, so the stream is read with fetch()).

const PAGE = 30;
const CHANNELS = [
  "call", "email", "web", "order", "service", "partner", "sales", "fax", "campaign", "consent",
  "identity",
];
const LIVE_STATES = new Set(["targeted", "offered", "engaged"]);
const RETRY_MS = [500, 1000, 2000, 5000, 10000];

const session = {
  get key() { return sessionStorage.getItem("touchline.key"); },
  get agent() { return sessionStorage.getItem("touchline.agent"); },
  get desk() { return sessionStorage.getItem("touchline.desk") || "phone"; },
  save(key, agent, desk) {
    sessionStorage.setItem("touchline.key", key);
    sessionStorage.setItem("touchline.agent", agent);
    sessionStorage.setItem("touchline.desk", desk);
  },
  clear() {
    for (const name of ["touchline.key", "touchline.agent", "touchline.desk"]) {
      sessionStorage.removeItem(name);
    }
  },
};

const view = {
  customer: null,      // the customer id on screen
  story: null,         // the last story shown (profile, campaigns, offers)
  shown: new Map(),    // event_id -> entry, for what the timeline list holds
  cursor: null,        // the next page's cursor, for the current filter
  channels: new Set(), // the channels shown; empty: all
  answered: new Map(), // campaign_id -> "accepted"/"declined", until its state moves
  live: null,          // the AbortController of the live stream
  loading: false,
  listing: 0,          // bumped per customer and filter asked for: older answers are dropped
};

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- the DOM

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "data") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

const when = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const day = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
const at = (iso) => (iso ? when.format(new Date(iso)) : "");
const on = (iso) => (iso ? day.format(new Date(iso)) : "");
const money = (byCurrency) => Object.entries(byCurrency || {})
  .map(([currency, amount]) => `${amount.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 })} ${currency}`)
  .join(", ");

function status(text, kind = "info") {
  const line = $("status");
  line.textContent = text;
  line.dataset.kind = kind;
}

// ---------------------------------------------------------------- the API

class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

function headers(json = false) {
  const sent = { Authorization: `Bearer ${session.key}` };
  if (json) sent["Content-Type"] = "application/json";
  return sent;
}

async function call(path, { method = "GET", body } = {}) {
  const response = await fetch(path, {
    method,
    headers: headers(body !== undefined),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) {
    signOut("The API refused that key: sign in again.");
    throw new ApiError(401, "unauthorized");
  }
  const answer = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, answer?.detail || response.statusText);
  return answer;
}

const query = (params) => {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    for (const one of [value].flat()) if (one !== null && one !== undefined) search.append(name, one);
  }
  return search.toString();
};

// A UUIDv7 (RFC 9562): the API takes the action's time from it, so a retry
// of the same action is the same event. getRandomValues, not randomUUID:
// it exists on plain http too (an agent's LAN).
function uuid7() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let now = Date.now();
  for (let i = 5; i >= 0; i -= 1) {
    bytes[i] = now % 256;
    now = Math.floor(now / 256);
  }
  bytes[6] = (bytes[6] & 0x0f) | 0x70;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// ---------------------------------------------------------------- finding a customer

async function find(asked, note = null) {
  status(`Finding ${asked}…`);
  let overview;
  try {
    overview = await call(`/v1/customer-overview?${query({ q: asked, channel: session.desk, limit: PAGE })}`);
  } catch (error) {
    // The customer on screen (if any) stays, and stays live.
    if (error.status !== 401) status(error.message, "error");
    return;
  }
  stopLive();
  view.customer = overview.customer_id;
  view.listing += 1;
  view.answered.clear();
  view.channels.clear();
  renderFilters();
  renderStory(overview);
  showPage(overview.timeline, { replace: true });
  $("customer").hidden = false;
  status(note || `${overview.customer_id}, found by ${overview.matched}`);
  history.replaceState(null, "", `#${overview.customer_id}`);
  document.dispatchEvent(new CustomEvent("console:shown", { detail: { customer_id: overview.customer_id } }));
  follow(overview.customer_id, overview.live);
}

// ---------------------------------------------------------------- the profile side

function renderStory(story) {
  view.story = story;
  for (const campaign of story.campaigns) {
    if (!LIVE_STATES.has(campaign.state)) view.answered.delete(campaign.campaign_id);
  }
  const profile = story.profile;
  $("story").dataset.customer = story.customer_id;
  $("profile").replaceChildren(...[
    el("h2", { class: "who" }, story.customer_id),
    profile ? identifiers(profile) : el("p", { class: "note" }, "No profile yet: its first event is still being processed."),
    profile ? warnings(profile) : null,
    profile ? value(profile) : null,
    profile ? owners(profile) : null,
    profile && profile.talking_points.length ? section("Talking points", el("ul", { class: "points" }, profile.talking_points.map((point) => el("li", {}, point)))) : null,
    offers(story),
    campaigns(story.campaigns),
    profile ? consent(profile) : null,
    profile ? cases(profile) : null,
  ].flat().filter(Boolean));
}

function section(title, ...body) {
  return el("section", { class: "part", "aria-label": title }, el("h3", {}, title), ...body);
}

function identifiers(profile) {
  return el("ul", { class: "identifiers" }, profile.identifiers.map((identifier) => {
    const [kind, ...rest] = identifier.split(":");
    return el("li", {}, el("span", { class: "kind" }, kind.replace("_", " ")), " ", rest.join(":"));
  }));
}

function warnings(profile) {
  const items = [];
  if (profile.do_not_contact) {
    const until = profile.do_not_contact_until ? ` until ${on(profile.do_not_contact_until)}` : "";
    items.push(el("li", { class: "alert" }, `Do not contact for marketing${until}.`));
  }
  for (const signal of profile.churn_signals) items.push(el("li", { class: "warn" }, signal.text));
  return items.length ? el("ul", { class: "warnings" }, items) : null;
}

function value(profile) {
  const orders = profile.orders;
  const lifetime = money(orders.lifetime_value) || "no orders yet";
  return el("p", { class: "value" },
    el("span", { class: `tier tier-${profile.value_tier}`, data: { tier: profile.value_tier } }, profile.value_tier),
    " lifetime value ", el("strong", { class: "ltv" }, lifetime),
    orders.count ? ` over ${orders.count} order${orders.count === 1 ? "" : "s"} (${orders.direct} direct, ${orders.partner} via partners)` : "");
}

function owners(profile) {
  const partner = profile.owning_partner;
  const rep = profile.owning_rep;
  return el("dl", { class: "owners" },
    el("dt", {}, "Owning partner"), el("dd", { class: "partner" }, partner ? (partner.name || partner.account) : "none"),
    el("dt", {}, "Owning rep"), el("dd", { class: "rep" }, rep ? (rep.name ? `${rep.name} (${rep.rep_id})` : rep.rep_id) : "none"));
}

function offers(story) {
  const live = new Map();
  for (const offer of story.profile?.active_offers || []) {
    live.set(`${offer.campaign_id}/${offer.offer_code}`, { ...offer, made: true });
  }
  for (const offer of story.offers.offers) {
    const id = `${offer.campaign_id}/${offer.offer_code}`;
    if (!live.has(id)) live.set(id, { ...offer, made: false });
  }
  const cards = [...live.values()].filter((offer) => offer.campaign_id).map(offerCard);
  return section("Offers live now",
    cards.length ? el("ul", { class: "offers" }, cards) : el("p", { class: "note" }, "No offer to make now."));
}

function offerCard(offer) {
  const answered = view.answered.get(offer.campaign_id);
  const detail = offer.made
    ? `made via ${offer.via} ${at(offer.made_at)}${offer.made_by ? ` by ${offer.made_by}` : ""}`
    : `can be made now${offer.value ? `, worth ${offer.value}` : ""}${offer.affinity?.length ? `; interested in ${offer.affinity.join(", ")}` : ""}`;
  const answer = (response) => respond(offer, response);
  return el("li", { class: "offer", data: { campaign: offer.campaign_id, offer: offer.offer_code } },
    el("div", {}, el("strong", {}, offer.offer_code), " ", el("span", { class: "muted" }, `campaign ${offer.campaign_id}`)),
    el("div", { class: "muted" }, detail),
    answered
      ? el("div", { class: "answered" }, `${answered}, recorded: the campaign updates in a moment`)
      : el("div", { class: "actions" },
        el("button", { type: "button", onclick: () => answer("accepted") }, "Accept"),
        el("button", { type: "button", class: "quiet", onclick: () => answer("declined") }, "Decline")));
}

async function respond(offer, response) {
  const customer = view.customer;
  try {
    await call(`/v1/customers/${encodeURIComponent(customer)}/offer-responses`, {
      method: "POST",
      body: {
        agent: session.agent,
        campaign_id: offer.campaign_id,
        offer_code: offer.offer_code,
        response,
        via: session.desk,
        event_id: uuid7(),
      },
    });
  } catch (error) {
    if (error.status !== 401) status(`The answer was not recorded: ${error.message}`, "error");
    return;
  }
  if (customer !== view.customer) return;
  view.answered.set(offer.campaign_id, response === "accepted" ? "Accepted" : "Declined");
  status(`${offer.offer_code} ${response}.`);
  renderStory(view.story);
}

function campaigns(list) {
  if (!list.length) return null;
  return section("Campaigns", el("ul", { class: "campaigns" }, list.map((campaign) => {
    const last = campaign.history[campaign.history.length - 1];
    const how = last ? [last.via, last.reason].filter(Boolean).join(", ") : "";
    return el("li", { data: { campaign: campaign.campaign_id, state: campaign.state } },
      el("strong", {}, campaign.campaign_id), " ",
      el("span", { class: `state state-${campaign.state}` }, campaign.state),
      how ? el("span", { class: "muted" }, ` ${how}`) : null,
      last ? el("span", { class: "muted" }, ` · ${at(last.at)}`) : null);
  })));
}

function consent(profile) {
  if (!profile.consent.length) return section("Consent", el("p", { class: "note" }, "No consent recorded."));
  return section("Consent",
    el("table", { class: "consent" },
      el("thead", {}, el("tr", {}, el("th", {}, "Channel"), el("th", {}, "Purpose"), el("th", {}, "Given"), el("th", {}, "Since"))),
      el("tbody", {}, profile.consent.map((one) => el("tr", { data: { channel: one.channel, purpose: one.purpose } },
        el("td", {}, one.channel), el("td", {}, one.purpose),
        el("td", { class: one.granted ? "yes" : "no" }, one.granted ? "yes" : "no"),
        el("td", {}, on(one.at)))))));
}

function cases(profile) {
  const open = profile.open_cases.map((item) => el("li", { data: { case: item.case_id } },
    el("strong", {}, item.case_id), " ", item.subject || "(no subject)",
    el("span", { class: "muted" }, ` ${[item.status, item.priority].filter(Boolean).join(", ")}${item.is_complaint ? ", complaint" : ""}`)));
  const complaints = profile.recent_complaints.map((item) => el("li", {},
    `${on(item.at)}: ${item.subject || item.reference}`, el("span", { class: "muted" }, ` (${item.source})`)));
  return [
    section("Open cases", open.length ? el("ul", { class: "cases" }, open) : el("p", { class: "note" }, "None.")),
    section("Recent complaints", complaints.length ? el("ul", { class: "complaints" }, complaints) : el("p", { class: "note" }, "None.")),
  ];
}

// ---------------------------------------------------------------- recording a call

// The form is the page's own markup, never redrawn: a story that arrives
// while the agent types leaves what they typed alone.
async function recordCall(form) {
  const data = new FormData(form);
  const disposition = String(data.get("disposition") || "").trim();
  const body = {
    agent_id: session.agent,
    call_id: `console-${uuid7()}`,
    direction: data.get("direction"),
    duration_seconds: Math.round(Number(data.get("minutes")) * 60),
    event_id: uuid7(),
  };
  if (body.direction === "outbound") body.outcome = data.get("outcome");
  if (disposition) body.disposition = disposition;
  try {
    await call(`/v1/customers/${encodeURIComponent(view.customer)}/calls`, { method: "POST", body });
  } catch (error) {
    if (error.status !== 401) status(`The call was not recorded: ${error.message}`, "error");
    return;
  }
  form.reset();
  $("call-outcome").disabled = true;
  status("Call recorded.");
}

// ---------------------------------------------------------------- the timeline

function renderFilters() {
  const chips = [el("button", { type: "button", "aria-pressed": String(!view.channels.size), onclick: () => filter(null) }, "all")];
  for (const channel of CHANNELS) {
    chips.push(el("button", {
      type: "button", data: { channel }, "aria-pressed": String(view.channels.has(channel)),
      onclick: () => filter(channel),
    }, channel));
  }
  $("filters").replaceChildren(...chips);
}

async function filter(channel) {
  if (channel === null) view.channels.clear();
  else if (view.channels.has(channel)) view.channels.delete(channel);
  else view.channels.add(channel);
  renderFilters();
  view.listing += 1;
  const listing = view.listing;
  const page = await call(`/v1/customers/${encodeURIComponent(view.customer)}/timeline?${query({ channel: [...view.channels], limit: PAGE })}`)
    .catch((error) => { status(error.message, "error"); return null; });
  if (page && listing === view.listing) showPage(page, { replace: true });
}

const order = (entry) => [Date.parse(entry.occurred_at), entry.event_id];
const newer = (a, b) => {
  const [ta, ia] = order(a);
  const [tb, ib] = order(b);
  return ta !== tb ? ta > tb : ia > ib;
};

function entryItem(entry, fresh) {
  return el("li", { class: fresh ? "entry fresh" : "entry", data: { eventId: entry.event_id, channel: entry.channel } },
    el("time", { datetime: entry.occurred_at }, at(entry.occurred_at)),
    el("span", { class: `channel channel-${entry.channel}` }, entry.channel),
    el("span", { class: "summary" }, entry.summary),
    el("span", { class: "source muted" }, entry.source));
}

function showPage(page, { replace }) {
  const list = $("timeline");
  if (replace) {
    view.shown.clear();
    list.replaceChildren();
  }
  for (const entry of page.entries) {
    if (view.shown.has(entry.event_id)) continue;
    view.shown.set(entry.event_id, entry);
    list.append(entryItem(entry, false));
  }
  view.cursor = page.next_cursor;
  $("more").hidden = !view.cursor;
  if (!list.children.length) list.append(el("li", { class: "note empty" }, "Nothing on the timeline yet."));
}

// Live entries go where they sort, so an event that arrived late reads in
// its place; one older than everything loaded while older pages remain is
// left for scrolling to fetch.
function addLive(entries) {
  const list = $("timeline");
  list.querySelector(".empty")?.remove();
  for (const entry of entries) {
    if (view.shown.has(entry.event_id)) continue;
    if (view.channels.size && !view.channels.has(entry.channel)) continue;
    const items = [...list.children];
    const before = items.find((item) => newer(entry, view.shown.get(item.dataset.eventId)));
    if (!before && view.cursor) continue;
    view.shown.set(entry.event_id, entry);
    const item = entryItem(entry, true);
    list.insertBefore(item, before || null);
    document.dispatchEvent(new CustomEvent("console:entry", { detail: { event_id: entry.event_id } }));
  }
}

async function more() {
  if (view.loading || !view.cursor) return;
  view.loading = true;
  const listing = view.listing;
  try {
    const page = await call(`/v1/customers/${encodeURIComponent(view.customer)}/timeline?${query({ channel: [...view.channels], limit: PAGE, cursor: view.cursor })}`);
    if (listing === view.listing) showPage(page, { replace: false });
  } catch (error) {
    if (error.status !== 401) status(error.message, "error");
  } finally {
    view.loading = false;
  }
}

// ---------------------------------------------------------------- live

function stopLive() {
  view.live?.abort();
  view.live = null;
  setLive(false);
}

function setLive(live) {
  const badge = $("live");
  badge.dataset.live = live ? "on" : "off";
  badge.textContent = live ? "live" : "not live";
}

// The stream, read with fetch(): text/event-stream blocks split on blank
// lines (CRLF, LF or CR), "event:" and "data:" lines, comments ignored.
async function* events(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      // A CR at the chunk's end may be half of a CRLF: keep it for the next chunk.
      const held = buffer.endsWith("\r") ? "\r" : "";
      const blocks = buffer.slice(0, buffer.length - held.length).replace(/\r\n?/g, "\n").split("\n\n");
      buffer = blocks.pop() + held;
      for (const block of blocks) {
        let event = "message";
        const data = [];
        for (const line of block.split("\n")) {
          const colon = line.indexOf(":");
          const name = colon < 0 ? line : line.slice(0, colon);
          const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (name === "event") event = text;
          else if (name === "data") data.push(text);
        }
        if (data.length) yield { event, data: JSON.parse(data.join("\n")) };
      }
    }
  } finally {
    // The reader is let go however the loop ends (a customer changed, a merge).
    reader.cancel().catch(() => {});
  }
}

async function follow(customer, path) {
  const controller = new AbortController();
  view.live = controller;
  const { signal } = controller;
  for (let attempt = 0; !signal.aborted; attempt += 1) {
    try {
      const response = await fetch(`${path}?${query({ channel: session.desk })}`, { headers: headers(), signal });
      if (response.status === 401) {
        signOut("The API refused that key: sign in again.");
        return;
      }
      if (response.ok) {
        attempt = 0;
        setLive(true);
        for await (const message of events(response.body)) {
          if (customer !== view.customer) return;
          if (message.event === "entries") addLive(message.data.entries);
          else if (message.event === "story") renderStory({ ...view.story, ...message.data });
          else if (message.event === "merged") {
            const { merged_id: merged, customer_id: survivor } = message.data;
            find(survivor, `${merged} was merged into ${survivor}: this is the whole story now.`);
            return;
          }
        }
      }
    } catch (error) {
      if (signal.aborted) return;
    }
    setLive(false);
    // The server went away or the network dropped: try again, backing off.
    await new Promise((resolve) => { setTimeout(resolve, RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)]); });
  }
}

// ---------------------------------------------------------------- signing in

function signOut(reason) {
  stopLive();
  session.clear();
  view.customer = null;
  view.listing += 1;
  $("customer").hidden = true;
  askForKey(reason || "Signed out.", reason ? "error" : "info");
}

function askForKey(message, kind) {
  $("whoami").hidden = true;
  $("find").hidden = true;
  $("sign-in").hidden = false;
  status(message, kind);
  $("key").focus();
}

function signedIn() {
  $("sign-in").hidden = true;
  $("find").hidden = false;
  $("whoami").hidden = false;
  $("agent-name").textContent = `${session.agent} · ${$("desk").querySelector(`option[value="${session.desk}"]`)?.textContent || session.desk}`;
  $("q").focus();
}

function start() {
  $("sign-in").addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(event.target);
    session.save(String(data.get("key")).trim(), String(data.get("agent")).trim(), String(data.get("desk")));
    event.target.reset();
    status("");
    signedIn();
  });
  $("sign-out").addEventListener("click", () => signOut());
  $("find").addEventListener("submit", (event) => {
    event.preventDefault();
    const asked = $("q").value.trim();
    if (asked) find(asked);
  });
  $("more").addEventListener("click", more);
  const direction = $("call-direction");
  direction.addEventListener("change", () => { $("call-outcome").disabled = direction.value === "inbound"; });
  $("call").addEventListener("submit", (event) => {
    event.preventDefault();
    recordCall(event.target);
  });
  new IntersectionObserver((seen) => {
    if (seen.some((one) => one.isIntersecting)) more();
  }).observe($("timeline-end"));
  if (!session.key) {
    askForKey("Sign in with your API key to start.", "info");
    return;
  }
  signedIn();
  const opened = decodeURIComponent(location.hash.slice(1));
  if (opened) find(opened);
}

start();
