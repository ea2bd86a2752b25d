// The affiliate portal: balances per currency, recent activity (commissions,
// clawbacks, payouts and their outcome), statements to download.

import { api, download, query } from "./api.js";
import { h, show, problemView, okView, table } from "./ui.js";
import { statementList } from "./finance.js";

const WORDS = {
  "commission.recorded": "commission recorded (pending)",
  "commission.matured": "commission matured (available)",
  "commission.reversed": "commission reversed (refund, chargeback or fraud)",
  "commission.adjusted": "commission adjusted",
  "payout_batch.drafted": "payout drafted (reserved)",
  "payout_batch.rejected": "payout rejected: reservation released",
  "payout_item.paid": "payout paid",
  "payout_item.failed": "payout failed: money credited back",
  "payout_item.returned": "payout returned: money credited back",
};

function words(type) {
  return WORDS[type] || type.replace(/[._]/g, " ");
}

function balanceCard(affiliate, b, note) {
  const csv = h("button", { type: "button", class: "secondary" }, "Activity CSV");
  csv.addEventListener("click", async () => {
    try {
      await download(`/v1/affiliates/${encodeURIComponent(affiliate)}/journal/export.csv${query({ currency: b.currency })}`, `${affiliate}-${b.currency}-activity.csv`);
      show(note, okView("Activity downloaded."));
    } catch (e) {
      show(note, problemView(e));
    }
  });
  return h("article", { class: "card balance", "data-currency": b.currency, "aria-labelledby": `bal-${b.currency}` },
    h("h2", { id: `bal-${b.currency}` }, b.currency),
    h("p", {}, h("span", { class: "muted" }, "Next payout can be up to "), h("span", { class: "figure" }, `${b.net_payable} ${b.currency}`)),
    h("dl", { class: "kv" },
      h("dt", {}, "Pending (not yet matured)"), h("dd", {}, b.pending),
      h("dt", {}, "Available"), h("dd", {}, b.available),
      h("dt", {}, "Reserved for a payout"), h("dd", {}, b.reserved),
      h("dt", {}, "Owed back (netted from payouts)"), h("dd", {}, b.receivable),
      h("dt", {}, "Paid out"), h("dd", {}, b.paid_out)),
    h("div", { class: "actions" }, csv));
}

async function activity(affiliate, currency) {
  const lines = [];
  let after = "";
  for (let page = 0; page < 4; page += 1) {
    const r = await api("GET", `/v1/affiliates/${encodeURIComponent(affiliate)}/journal${query({ currency, limit: 500, after })}`);
    lines.push(...r.lines);
    if (!r.next) break;
    after = r.next;
  }
  const recent = lines.slice(-50).reverse();
  return table(`Recent activity in ${currency} (newest first)`, ["When", "What", "Reference", "Changes"],
    recent.map((l) => [l.effective_at.slice(0, 16).replace("T", " "), words(l.event_type), l.stream.split("/").slice(1).join("/"),
      Object.entries(l.changes).map(([k, v]) => `${k} ${v.startsWith("-") ? "" : "+"}${v}`).join(", ")]));
}

async function pendingTable(affiliate, currency) {
  const r = await api("GET", `/v1/affiliates/${encodeURIComponent(affiliate)}/pending${query({ currency })}`);
  if (!r.commissions.length) return null;
  return h("div", {},
    table(`Pending in ${currency}: ${r.pending_total} ${currency}, soonest to mature first`, ["Commission", "Pending", "Earned (UTC)", "Becomes available (UTC)"],
      r.commissions.map((c) => [c.commission_id, c.pending, c.earned_at.slice(0, 10), c.matures_at.slice(0, 16).replace("T", " ")]), [1]),
    r.complete ? null : h("p", { class: "muted" }, "More commissions are pending than are listed here."));
}

export async function portalView(root, affiliate) {
  const note = h("div", { "aria-live": "polite" });
  const balances = h("div", { class: "grid", id: "balances" });
  const pending = h("div", { id: "pending" });
  const history = h("div", { id: "activity" });
  const statements = h("div", { id: "statements" });
  show(root, h("h1", {}, `Your earnings (${affiliate})`), note, balances,
    h("section", { class: "card" }, h("h2", {}, "Pending commissions"), pending),
    h("section", { class: "card" }, h("h2", {}, "Statements"), statements),
    h("section", { class: "card" }, h("h2", {}, "Activity"), history));
  try {
    const r = await api("GET", `/v1/affiliates/${encodeURIComponent(affiliate)}/balances`);
    show(balances, r.balances.length ? r.balances.map((b) => balanceCard(affiliate, b, note)) : h("p", { class: "muted" }, "No earnings yet."));
    const waiting = [];
    for (const b of r.balances) {
      if (!/^0(\.0+)?$/.test(b.pending)) waiting.push(await pendingTable(affiliate, b.currency));
    }
    const shown = waiting.filter(Boolean);
    show(pending, shown.length ? shown : h("p", { class: "muted" }, "Nothing pending: every commission has matured."));
    const tables = [];
    for (const b of r.balances) tables.push(await activity(affiliate, b.currency));
    show(history, tables.length ? tables : h("p", { class: "muted" }, "No activity yet."));
  } catch (e) {
    show(balances, problemView(e));
  }
  try {
    show(statements, await statementList(affiliate, note));
  } catch (e) {
    show(statements, problemView(e));
  }
}
