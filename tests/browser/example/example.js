// The example page: sign-in, notes (records), a file round trip and live changes, all through
// the helper, as an app would use it. The backend comes from ?api=&ws=&app=&key= or the form.
import { OneBackend } from "./one-backend.js";

const $ = (id) => document.getElementById(id);
const query = new URLSearchParams(location.search);
const saved = JSON.parse(localStorage.getItem("example:backend") || "{}");
const backend = {
  apiUrl: query.get("api") || saved.apiUrl || location.origin,
  wsUrl: query.get("ws") || saved.wsUrl || undefined,
  appId: query.get("app") || saved.appId || "demo",
  apiKey: query.get("key") || saved.apiKey || "",
};
$("api-url").value = backend.apiUrl;
$("app-id").value = backend.appId;
$("api-key").value = backend.apiKey;
$("connection-form").onsubmit = (e) => {
  e.preventDefault();
  const chosen = { apiUrl: $("api-url").value, appId: $("app-id").value, apiKey: $("api-key").value };
  localStorage.setItem("example:backend", JSON.stringify(chosen));
  location.search = "";
};

const ob = new OneBackend(backend);
window.ob = ob;
const notes = `/api/${ob.appId}/notes`;
let live = null;
let uploadedKey = null;

const guard = (action) => async (event) => {
  event?.preventDefault();
  $("errors").textContent = "";
  try {
    await action(event);
  } catch (err) {
    $("errors").textContent = [err.status, err.code, err.message].filter(Boolean).join(" ");
  }
};

function showNote(record) {
  let item = $("note-list").querySelector(`[data-id="${record.id}"]`);
  if (!item) {
    item = document.createElement("li");
    item.dataset.id = record.id;
    $("note-list").prepend(item);
  }
  item.textContent = record.data.text;
}

function onChange(change) {
  const entry = document.createElement("li");
  entry.textContent = `${change.type} ${change.record?.data?.text ?? change.id}`;
  $("live-log").append(entry);
  if (change.truncated && change.type !== "deleted") {
    // Over API Gateway's message limit the change comes without its record: fetch it.
    guard(async () => showNote(await ob.request("GET", `${notes}/${change.id}`)))();
  } else if (change.type === "deleted" || !change.record) {
    $("note-list").querySelector(`[data-id="${change.id}"]`)?.remove();
  } else {
    showNote(change.record);
  }
}

async function render() {
  const user = ob.user;
  $("signed-in").hidden = !user;
  $("auth-form").hidden = Boolean(user);
  for (const id of ["notes", "files", "live"]) $(id).hidden = !user;
  if (!user) {
    live?.close();
    live = null;
    $("live-status").textContent = "off";
    $("note-list").replaceChildren();
    return;
  }
  $("whoami").textContent = user.email;
  $("whoami").dataset.userId = user.userId;
  // Signed in, the config carries the app's own settings.
  const config = await ob.request("GET", `/config/${ob.appId}`);
  const theme = config.settings?.theme;
  $("theme").textContent = theme ?? "none";
  document.body.dataset.theme = theme ?? "";
  const { items } = await ob.request("GET", `${notes}?limit=50&order=desc`);
  $("note-list").replaceChildren();
  for (const record of items.reverse()) showNote(record);
  live ??= ob.live(["resource:notes"], onChange, (status) => {
    $("live-status").textContent = status;
  });
}

$("auth-form").onsubmit = guard(async (event) => {
  const email = $("email").value;
  const password = $("password").value;
  if (event.submitter?.value === "register") await ob.register(email, password);
  else await ob.login(email, password);
  await render();
});
$("logout").onclick = guard(async () => {
  await ob.logout();
  await render();
});
$("note-form").onsubmit = guard(async () => {
  showNote(await ob.request("POST", notes, { data: { text: $("note-text").value } }));
  $("note-text").value = "";
});
$("file-upload").onclick = guard(async () => {
  const file = $("file-input").files[0];
  if (!file) throw new Error("choose a file first");
  uploadedKey = await ob.upload(file, `example/${file.name}`);
  $("file-key").textContent = uploadedKey;
  $("file-download").hidden = false;
});
$("file-download").onclick = guard(async () => {
  const response = await fetch(await ob.downloadUrl(uploadedKey));
  if (!response.ok) throw new Error(`download failed: ${response.status}`);
  $("file-content").textContent = await response.text();
});
// Signing in or out in another tab, or a refresh that failed, changes this one too.
ob.onSignOut = () => guard(render)();
window.addEventListener("storage", (event) => {
  if (event.key === ob.slot && Boolean(event.oldValue) !== Boolean(event.newValue)) guard(render)();
});
guard(render)();
