// A closed vote's result, as the delegate's tablet, the console and the hall's projector show it (issue 14).
import { el } from "./ui.js";

/** Elements for `vote.result`: the verdict, the count of each choice, how many voted, the rule. */
export function resultLines(v) {
  const r = v.result;
  if (!r) return [];
  const pct = (n) => (r.total ? ` (${Math.round((n * 1000) / r.total) / 10}%)` : "");
  return [
    el("div", { class: `vote-verdict ${r.passed ? "passed" : "failed"}`, "data-passed": String(r.passed) },
      r.passed ? "ĐƯỢC THÔNG QUA" : "KHÔNG ĐƯỢC THÔNG QUA"),
    el("ul", { class: "vote-counts" },
      el("li", { "data-choice": "yes" }, `Tán thành: ${r.yes}${pct(r.yes)}`),
      el("li", { "data-choice": "no" }, `Không tán thành: ${r.no}${pct(r.no)}`),
      el("li", { "data-choice": "abstain" }, `Không biểu quyết: ${r.abstain}${pct(r.abstain)}`),
      el("li", {}, `Số đại biểu đã biểu quyết: ${r.voters}/${r.total} (có mặt ${r.present})`)),
    el("div", { class: "vote-rule" }, `Nguyên tắc: ${r.rule_label} — cần ${r.needed} phiếu tán thành.`),
  ];
}
