// Parse Mermaid diagrams with Mermaid's own parser, as the Mermaid Live Editor does, without rendering.
// Usage: node validate.mjs diagrams.json results.json
//   diagrams.json: a JSON array of diagram texts
//   results.json:  written as [{ "ok": bool, "type": string|null, "error": string|null }, ...] in the same order
// Mermaid's flowchart parser sanitises labels with DOMPurify, which needs a DOM: jsdom provides one (no scripts run).
import { readFileSync, writeFileSync } from 'node:fs';
import { JSDOM } from 'jsdom';

const { window } = new JSDOM('<!doctype html><html><body></body></html>');
globalThis.window = window;
globalThis.document = window.document;
const { default: mermaid } = await import('mermaid');
mermaid.initialize({ startOnLoad: false, securityLevel: 'strict' });

const diagrams = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const results = [];
for (const text of diagrams) {
  try {
    const parsed = await mermaid.parse(String(text));
    results.push({ ok: true, type: parsed.diagramType, error: null });
  } catch (error) {
    results.push({ ok: false, type: null, error: String(error?.message ?? error) });
  }
}
writeFileSync(process.argv[3], JSON.stringify(results));
