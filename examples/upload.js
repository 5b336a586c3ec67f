// The API calls and the direct upload (create-upload → PUT to S3 → complete-upload) that
// direct-upload.html and gallery.html share. A plain script: it defines `PlugsMedia`.
"use strict";

const PlugsMedia = (() => {
  // One API call with the bearer token; resolves to { json, response }, or throws an Error
  // naming the status and the API's machine code.
  async function request(api, token, method, path, body) {
    const response = await fetch(api.replace(/\/$/, "") + path, {
      method,
      headers: { "Authorization": "Bearer " + token.trim(), "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = json.error || {};
      throw new Error(`${response.status} ${error.code || ""}: ${error.message || response.statusText}`);
    }
    return { json, response };
  }

  // XMLHttpRequest rather than fetch: only it reports upload progress.
  function putToStorage(ticket, file, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(ticket.method, ticket.url);
      for (const [name, value] of Object.entries(ticket.headers)) {
        // The browser sets Content-Length itself from the body, and refuses to be told.
        if (name.toLowerCase() !== "content-length") xhr.setRequestHeader(name, value);
      }
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable) onProgress(e.loaded / e.total);
      };
      xhr.onload = () => (xhr.status >= 200 && xhr.status < 300
        ? resolve()
        : reject(new Error(`storage refused the upload: ${xhr.status} ${xhr.responseText.slice(0, 200)}`)));
      xhr.onerror = () => reject(new Error("storage could not be reached (network or CORS)"));
      xhr.send(file);
    });
  }

  // The whole direct upload of one file; resolves to the new media JSON. `onStage` hears
  // "create", "put" and "complete"; `onProgress` the share of the bytes sent (0 to 1).
  async function directUpload({ api, token, event, file, title, onStage = () => {}, onProgress = () => {} }) {
    onStage("create");
    const ticket = (await request(api, token, "POST", `/api/v1/events/${event}/media/uploads`, {
      filename: file.name,
      content_type: file.type || "application/octet-stream",
      file_size: file.size,
      title: title || undefined,
    })).json;
    onStage("put");
    await putToStorage(ticket, file, onProgress);
    onStage("complete");
    return (await request(api, token, "POST", `/api/v1/events/${event}/media/uploads/${ticket.upload_id}/complete`)).json;
  }

  return { request, putToStorage, directUpload };
})();
