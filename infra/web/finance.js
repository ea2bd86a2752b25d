// The finance console: batches awaiting approval, drafting, liabilities,
// affiliates with holds and payout methods, reconciliation, statements.
// The server decides every rule (four eyes, approval limits, tenant scope);
// the page shows its answer, refusals included.

import { api, download, query, session } from "./api.js";
import { h, show, problemView, okView, badge, table, age, money, field } from "./ui.js";

function busy(button, work) {
  return async (event) => {
    if (event) event.preventDefault();
    button.disabled = true;
    try {
      await work();
    } finally {
      button.disabled = false;
    }
  };
}

function exportButton(label, path, filename, out) {
  const b = h("button", { class: "secondary", type: "button" }, label);
  b.addEventListener("click", busy(b, async () => {
    try {
      await download(path, filename);
      show(out, okView(`Downloaded ${filename}`));
    } catch (e) {
      show(out, problemView(e));
    }
  }));
  return b;
}

// ---- payout batches -------------------------------------------------------

function batchCard(batch, reload) {
  const out = h("div", { class: "result", "aria-live": "polite" });
  const me = session()?.claims.subject;
  const items = table(`Items of ${batch.batch_id}`,
    ["Affiliate", "Amount", "Destination", "Status"],
    batch.items.map((i) => [i.affiliate_id, money(i.amount), i.destination || "—", badge(i.status)]),
    [1]);
  const actions = h("div", { class: "actions" });
  if (batch.status === "drafted") {
    const approve = h("button", { type: "button", "data-action": "approve", "aria-label": `Approve batch ${batch.batch_id}` }, "Approve");
    approve.addEventListener("click", busy(approve, async () => {
      try {
        const r = await api("POST", `/v1/payout-batches/${encodeURIComponent(batch.batch_id)}/approve`, {});
        show(out, okView(`Approved: ${r.dispatch_messages} items are being paid.`));
        setTimeout(reload, 800);
      } catch (e) {
        show(out, problemView(e));
      }
    }));
    const reason = h("input", { name: "reason", required: true, placeholder: "why it must not be paid", "aria-label": `Reason to reject ${batch.batch_id}` });
    const reject = h("button", { type: "submit", class: "danger" }, "Reject");
    const rejectForm = h("form", { class: "inline", onsubmit: busy(reject, async () => {
      try {
        await api("POST", `/v1/payout-batches/${encodeURIComponent(batch.batch_id)}/reject`, { reason: reason.value });
        show(out, okView("Rejected: every reservation is released."));
        setTimeout(reload, 800);
      } catch (e) {
        show(out, problemView(e));
      }
    }) }, reason, reject);
    actions.append(approve, rejectForm);
    if (me && me === batch.maker) {
      actions.append(h("p", { class: "muted" }, "You drafted this batch: another person must approve it."));
    }
  }
  if (batch.status === "approved" && batch.items.some((i) => i.status === "approved" || i.status === "queued")) {
    const resend = h("button", { type: "button", class: "secondary" }, "Send unsent items again");
    resend.addEventListener("click", busy(resend, async () => {
      try {
        const r = await api("POST", `/v1/payout-batches/${encodeURIComponent(batch.batch_id)}/dispatch`, {});
        show(out, okView(`Enqueued ${r.dispatch_messages} items.`));
      } catch (e) {
        show(out, problemView(e));
      }
    }));
    actions.append(resend);
  }
  actions.append(exportButton("Export CSV", `/v1/payout-batches/${encodeURIComponent(batch.batch_id)}/export.csv`, `${batch.batch_id}.csv`, out));
  return h("article", { class: "card batch", "data-batch": batch.batch_id, "aria-labelledby": `b-${batch.batch_id}` },
    h("h2", { id: `b-${batch.batch_id}` }, `Batch ${batch.batch_id} `, badge(batch.status)),
    h("dl", { class: "kv" },
      h("dt", {}, "Maker"), h("dd", {}, batch.maker),
      h("dt", {}, "Drafted"), h("dd", {}, `${batch.drafted_at} (${age(batch.age_seconds)} ago)`),
      h("dt", {}, "Total"), h("dd", {}, batch.totals.map(money).join(", ") || "—"),
      h("dt", {}, "Items"), h("dd", {}, String(batch.item_count))),
    items, actions, out);
}

export function batchesView(root) {
  const list = h("div", { id: "batches" });
  const draftOut = h("div", { "aria-live": "polite" });
  const status = h("select", { name: "status", id: "batch-status" },
    [["", "awaiting approval first, then all"], ["drafted", "drafted (awaiting approval)"], ["approved", "approved"], ["rejected", "rejected"]]
      .map(([v, t]) => h("option", { value: v }, t)));
  let next = null;
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "More batches");
  const load = async (append = false) => {
    try {
      const page = await api("GET", `/v1/payout-batches${query({ status: status.value, limit: 20, after: append ? next : "" })}`);
      next = page.next;
      more.hidden = !next;
      const cards = page.batches.map((b) => batchCard(b, () => load(false)));
      if (append) list.append(...cards);
      else show(list, cards.length ? cards : h("p", { class: "muted" }, "No payout batches."));
    } catch (e) {
      show(list, problemView(e));
    }
  };
  more.addEventListener("click", () => load(true));
  status.addEventListener("change", () => load(false));
  const currency = h("input", { name: "currency", id: "draft-currency", placeholder: "all", size: 6, maxlength: 3, "aria-describedby": "draft-help" });
  const draft = h("button", { type: "submit", id: "draft" }, "Draft payout run");
  const form = h("form", { class: "inline", onsubmit: busy(draft, async () => {
    try {
      const body = currency.value.trim() ? { currency: currency.value.trim().toUpperCase() } : {};
      const r = await api("POST", "/v1/payout-runs", body);
      show(draftOut, okView(`Run ${r.run_id}: ${r.batches.length} batches with ${r.items} items drafted; ${r.skipped} affiliates skipped.`));
      await load(false);
    } catch (e) {
      show(draftOut, problemView(e));
    }
  }) }, field("Currency (ISO 4217)", currency), draft);
  show(root,
    h("h1", {}, "Payout batches"),
    h("section", { class: "card", "aria-labelledby": "draft-h" },
      h("h2", { id: "draft-h" }, "Draft"),
      h("p", { id: "draft-help", class: "muted" }, "Drafts batches from what affiliates have available, net of receivables. Another person approves them."),
      form, draftOut),
    h("form", { class: "inline", onsubmit: (e) => { e.preventDefault(); load(false); } }, field("Show", status)),
    list, more);
  return load(false);
}

// ---- liabilities -----------------------------------------------------------

export function liabilitiesView(root) {
  const out = h("div", { id: "liabilities" });
  const note = h("div", { "aria-live": "polite" });
  const asOf = h("input", { type: "datetime-local", name: "as_of", id: "as-of" });
  const load = async () => {
    const at = asOf.value ? new Date(asOf.value).toISOString() : "";
    try {
      const r = await api("GET", `/v1/liabilities${query({ as_of: at })}`);
      show(out, h("p", { class: "muted" }, `As of ${r.as_of}`),
        table("What the tenant owes its affiliates, per currency",
          ["Currency", "Pending", "Available", "Reserved", "Receivable", "Paid out"],
          r.liabilities.map((l) => [l.currency, l.pending, l.available, l.reserved, l.receivable, l.paid_out]),
          [1, 2, 3, 4, 5]));
    } catch (e) {
      show(out, problemView(e));
    }
  };
  show(root, h("h1", {}, "Liabilities"),
    h("section", { class: "card" },
      h("form", { class: "inline", onsubmit: (e) => { e.preventDefault(); load(); } },
        field("As of (your local time; empty: now)", asOf), h("button", { type: "submit" }, "Show"),
        exportButton("Export CSV", "/v1/liabilities/export.csv", "liabilities.csv", note)),
      note, out));
  return load();
}

// ---- affiliates, holds and payout methods -----------------------------------

const HOLD_REASONS = ["kyc_pending", "fraud_review", "compliance", "manual", "method_changed"];

async function profilePanel(panel, affiliate) {
  const out = h("div", { "aria-live": "polite" });
  const reload = () => profilePanel(panel, affiliate);
  try {
    const p = await api("GET", `/v1/affiliates/${encodeURIComponent(affiliate)}/payout-profile`);
    const reason = h("select", { name: "reason" }, HOLD_REASONS.map((r) => h("option", { value: r }, r)));
    const noteInput = h("input", { name: "note", required: true, placeholder: "what must happen first" });
    const hold = h("button", { type: "submit" }, "Hold payouts");
    const holdForm = h("form", { class: "inline", onsubmit: busy(hold, async () => {
      try {
        await api("POST", `/v1/affiliates/${encodeURIComponent(affiliate)}/payout-holds`, { reason: reason.value, note: noteInput.value });
        await reload();
      } catch (e) {
        show(out, problemView(e));
      }
    }) }, field("Reason", reason), field("Note", noteInput), hold);
    const holds = p.holds.length
      ? h("ul", {}, p.holds.map((r) => {
        const lift = h("button", { type: "button", class: "secondary" }, `Lift ${r}`);
        lift.addEventListener("click", busy(lift, async () => {
          try {
            await api("POST", `/v1/affiliates/${encodeURIComponent(affiliate)}/payout-holds/${encodeURIComponent(r)}/lift`, { note: "lifted in the console" });
            await reload();
          } catch (e) {
            show(out, problemView(e));
          }
        }));
        return h("li", {}, r, " ", lift);
      }))
      : h("p", { class: "muted" }, "No holds.");
    show(panel, h("h2", {}, `Affiliate ${affiliate}`),
      h("dl", { class: "kv" },
        h("dt", {}, "Payout method"), h("dd", {}, p.method || "none on file"),
        h("dt", {}, "Processor"), h("dd", {}, p.processor || "—"),
        h("dt", {}, "Minimums"), h("dd", {}, p.minimums.map(money).join(", ") || "the run's defaults")),
      h("h3", {}, "Holds"), holds, holdForm, out);
  } catch (e) {
    show(panel, problemView(e));
  }
  panel.focus();
}

export function affiliatesView(root) {
  const list = h("div", { id: "affiliates" });
  const note = h("div", { "aria-live": "polite" });
  const panel = h("section", { class: "card", tabindex: "-1", "aria-live": "polite" }, h("p", { class: "muted" }, "Choose an affiliate to see its payout method and holds."));
  const yesNo = (name) => h("select", { name }, [["", "any"], ["true", "yes"], ["false", "no"]].map(([v, t]) => h("option", { value: v }, t)));
  const currency = h("input", { name: "currency", size: 6, maxlength: 3, placeholder: "all" });
  const hasAvailable = yesNo("has_available");
  const onHold = yesNo("on_hold");
  const hasReceivable = yesNo("has_receivable");
  const sort = h("select", { name: "sort" },
    [["affiliate", "affiliate"], ["available_desc", "available, largest first"], ["available_asc", "available, smallest first"], ["receivable_desc", "receivable, largest first"], ["pending_desc", "pending, largest first"]]
      .map(([v, t]) => h("option", { value: v }, t)));
  let next = null;
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "More affiliates");
  let rows = [];
  const render = () => show(list, rows.length
    ? table("Affiliates and their balances", ["Affiliate", "Currency", "Pending", "Available", "Reserved", "Receivable", "Paid out", "Holds", ""],
      rows.map((r) => {
        const open = h("button", { type: "button", class: "secondary", "aria-label": `Profile of ${r.affiliate_id}` }, "Profile");
        open.addEventListener("click", () => profilePanel(panel, r.affiliate_id));
        const csv = exportButton("Journal CSV", `/v1/affiliates/${encodeURIComponent(r.affiliate_id)}/journal/export.csv${query({ currency: r.currency })}`, `${r.affiliate_id}-${r.currency}-journal.csv`, note);
        return [r.affiliate_id, r.currency, r.pending, r.available, r.reserved, r.receivable, r.paid_out, r.holds.join(", ") || "—", h("span", { class: "actions" }, open, csv)];
      }), [2, 3, 4, 5, 6])
    : h("p", { class: "muted" }, "No affiliate matches."));
  const load = async (append = false) => {
    try {
      const page = await api("GET", `/v1/affiliates${query({
        currency: currency.value.trim().toUpperCase(), has_available: hasAvailable.value, on_hold: onHold.value,
        has_receivable: hasReceivable.value, sort: sort.value, limit: 50, after: append ? next : "",
      })}`);
      next = page.next;
      more.hidden = !next;
      rows = append ? rows.concat(page.affiliates) : page.affiliates;
      render();
    } catch (e) {
      show(list, problemView(e));
    }
  };
  more.addEventListener("click", () => load(true));
  show(root, h("h1", {}, "Affiliates"),
    h("form", { class: "inline card", onsubmit: (e) => { e.preventDefault(); load(false); } },
      field("Currency", currency), field("Has available", hasAvailable), field("On hold", onHold),
      field("Has receivable", hasReceivable), field("Sort", sort), h("button", { type: "submit" }, "Filter")),
    note, h("div", { class: "card" }, list, more), panel);
  return load(false);
}

// ---- reconciliation --------------------------------------------------------

export function reconciliationView(root) {
  const runs = h("div", { id: "runs" });
  const mismatches = h("div", { id: "mismatches" });
  const status = h("select", { name: "status" }, [["open", "open"], ["resolved", "resolved"], ["", "all"]].map(([v, t]) => h("option", { value: v }, t)));
  const loadRuns = async () => {
    try {
      const r = await api("GET", "/v1/reconciliation/runs?limit=20");
      show(runs, r.runs.length
        ? table("Reconciliation runs with mismatches", ["Run", "Processor", "Report", "Recorded", "Open", "Resolved"],
          r.runs.map((x) => [x.run_id, x.processor, x.report, x.recorded_at, String(x.open), String(x.resolved)]), [4, 5])
        : h("p", { class: "muted" }, "No reconciliation run has found a mismatch."));
    } catch (e) {
      show(runs, problemView(e));
    }
  };
  const loadMismatches = async () => {
    try {
      const r = await api("GET", `/v1/reconciliation/mismatches${query({ status: status.value, limit: 50 })}`);
      show(mismatches, r.mismatches.length ? r.mismatches.map((m) => {
        const out = h("div", { "aria-live": "polite" });
        const noteInput = h("input", { name: "note", required: true, maxlength: 500, placeholder: "how it was resolved", "aria-label": `Resolution note for ${m.id}` });
        const resolve = h("button", { type: "submit" }, "Resolve");
        const form = m.status === "open" ? h("form", { class: "inline", onsubmit: busy(resolve, async () => {
          try {
            await api("POST", `/v1/reconciliation/mismatches/${encodeURIComponent(m.id)}/resolve`, { note: noteInput.value });
            show(out, okView("Resolved."));
            setTimeout(() => { loadMismatches(); loadRuns(); }, 500);
          } catch (e) {
            show(out, problemView(e));
          }
        }) }, noteInput, resolve) : null;
        return h("article", { class: "card mismatch" },
          h("h2", {}, `${m.kind} `, badge(m.status)),
          h("dl", { class: "kv" },
            h("dt", {}, "Processor"), h("dd", {}, m.processor),
            h("dt", {}, "Report"), h("dd", {}, `${m.report}${m.line ? ` line ${m.line}` : ""}`),
            h("dt", {}, "Reference"), h("dd", {}, m.processor_reference || "—"),
            h("dt", {}, "Batch / item"), h("dd", {}, `${m.batch_id || "—"} / ${m.item_id || "—"}`),
            h("dt", {}, "Ledger says"), h("dd", {}, money(m.ledger_amount)),
            h("dt", {}, "Report says"), h("dd", {}, money(m.report_amount)),
            m.resolution ? [h("dt", {}, "Resolved"), h("dd", {}, `${m.resolution.by} at ${m.resolution.at}: ${m.resolution.note}`)] : null),
          form, out);
      }) : h("p", { class: "muted" }, "No mismatch here."));
    } catch (e) {
      show(mismatches, problemView(e));
    }
  };
  status.addEventListener("change", loadMismatches);
  show(root, h("h1", {}, "Reconciliation"),
    h("section", { class: "card" }, h("h2", {}, "Runs"), runs),
    h("section", {}, h("form", { class: "inline", onsubmit: (e) => { e.preventDefault(); loadMismatches(); } }, field("Mismatches", status)), mismatches));
  return Promise.all([loadRuns(), loadMismatches()]);
}

// ---- statements ------------------------------------------------------------

export async function statementList(affiliate, out) {
  const r = await api("GET", `/v1/affiliates/${encodeURIComponent(affiliate)}/statements`);
  if (!r.statements.length) return h("p", { class: "muted" }, "No statements yet.");
  return table(`Statements of ${affiliate}`, ["Period", "Currency", "Version", "Download"],
    r.statements.map((s) => {
      const buttons = ["csv", "json"].map((format) => {
        const b = h("button", { type: "button", class: "secondary", "data-format": format, "aria-label": `Download the ${s.period} ${s.currency} statement as ${format.toUpperCase()}` }, format.toUpperCase());
        b.addEventListener("click", busy(b, async () => {
          try {
            const link = await api("GET", `/v1/affiliates/${encodeURIComponent(affiliate)}/statements/${s.currency}/${s.period}${query({ version: s.version, format })}`);
            const a = h("a", { href: link.url, download: `statement-${affiliate}-${s.currency}-${s.period}-v${s.version}.${format}` }, "download");
            document.body.append(a);
            a.click();
            a.remove();
            show(out, okView(`Statement ${s.period} ${s.currency} v${s.version} (${format.toUpperCase()}) downloaded; the link expires at ${link.expires_at}.`));
          } catch (e) {
            show(out, problemView(e));
          }
        }));
        return b;
      });
      return [s.period, s.currency, `${s.version}${s.latest ? " (latest)" : ""}`, h("span", { class: "actions" }, buttons)];
    }));
}

export function statementsView(root) {
  const out = h("div", { "aria-live": "polite" });
  const period = h("input", { name: "period", placeholder: "YYYY-MM (empty: last month)", pattern: "\\d{4}-\\d{2}" });
  const run = h("button", { type: "submit" }, "Generate statements");
  const runForm = h("form", { class: "inline", onsubmit: busy(run, async () => {
    try {
      const body = period.value.trim() ? { period: period.value.trim() } : {};
      const r = await api("POST", "/v1/statement-runs", body);
      show(out, okView(`Period ${r.period} (${r.time_zone}): ${r.created} created, ${r.unchanged} unchanged, ${r.empty} empty, ${r.failed.length} failed${r.next ? "; more remain: run again" : ""}.`));
    } catch (e) {
      show(out, problemView(e));
    }
  }) }, field("Period", period), run);
  const found = h("div", {});
  const affiliate = h("input", { name: "affiliate", required: true, placeholder: "aff-anna" });
  const look = h("form", { class: "inline", onsubmit: async (e) => {
    e.preventDefault();
    try {
      show(found, await statementList(affiliate.value.trim(), out));
    } catch (err) {
      show(found, problemView(err));
    }
  } }, field("Affiliate", affiliate), h("button", { type: "submit" }, "Find statements"));
  show(root, h("h1", {}, "Statements"),
    h("section", { class: "card" }, h("h2", {}, "Statement run"), runForm),
    h("section", { class: "card" }, h("h2", {}, "An affiliate's statements"), look, found),
    out);
}
