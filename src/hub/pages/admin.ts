import { html, type SafeHtml } from "../html.js";
import { urls } from "../urls.js";
import { csrfField, digest, notice, type View } from "./layout.js";

export function loginPage(next: string, problem: string | null): SafeHtml {
  return html`<h1>Admin login</h1>
${problem ? notice("error", problem) : ""}
<form class="login" action="/-/login" method="post">
<input type="hidden" name="next" value="${next}">
<label>Admin token <input type="password" name="token" autocomplete="current-password" required autofocus></label>
<button type="submit">Log in</button>
</form>
<p class="muted">The token is in the file <code>admin-token</code> of the hub's data directory (or the environment variable PYPAKR_HUB_ADMIN_TOKEN the hub was started with).</p>`;
}

/** What a delete would take away, asked before it happens. */
export interface DeletePlan {
  repository: string;
  tag: string;
  digest: string;
  /** Every tag of the repository on that digest (the tag itself among them). */
  tags: string[];
}

export function deleteConfirmPage(plan: DeletePlan, view: View): SafeHtml {
  const others = plan.tags.filter((tag) => tag !== plan.tag);
  return html`<p class="crumbs"><a href="${urls.repository(plan.repository)}">${plan.repository}</a></p>
<h1>Delete ${plan.repository}:${plan.tag}?</h1>
<p>The registry deletes images by digest: this deletes the manifest ${digest(plan.digest)} from <code>${plan.repository}</code>,
${others.length > 0 ? html`and with it <strong>every tag on it</strong>: ${plan.tags.join(", ")}.` : html`which only the tag ${plan.tag} names.`}</p>
<p class="muted">The layers stay in the registry's storage until its garbage collection runs (e.g. <code>docker-registry garbage-collect /etc/docker/registry/config.yml</code>, with the registry stopped or read-only).</p>
<form action="${urls.deleteTag(plan.repository, plan.tag)}" method="post">
${csrfField(view)}
<input type="hidden" name="digest" value="${plan.digest}">
<button type="submit" class="danger">Delete ${plan.tags.length === 1 ? "the tag" : `${plan.tags.length} tags`}</button>
<a href="${urls.tag(plan.repository, plan.tag)}">Cancel</a>
</form>`;
}

export function deletedPage(plan: DeletePlan, removed: string[]): SafeHtml {
  return html`<h1>Deleted</h1>
${notice("info", `The registry deleted ${plan.repository}@${plan.digest}${removed.length > 0 ? `, and with it the tags ${removed.join(", ")}` : ""}.`, "Its layers take space until the registry's garbage collection runs (docker-registry garbage-collect CONFIG, with the registry stopped or read-only).")}
<p><a href="${urls.repository(plan.repository)}">Back to ${plan.repository}</a></p>`;
}

export function errorPage(status: number, message: string, hint: string | null): SafeHtml {
  return html`<h1>${status === 404 ? "Not found" : status === 401 || status === 403 ? "Not allowed" : "Something went wrong"}</h1>
${notice("error", message, hint)}
<p><a href="/">Home</a></p>`;
}
