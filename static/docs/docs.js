/**
 * @file The API documentation page (/docs/): fetches the OpenAPI 3.1
 * document the service serves at /api/v1/openapi.json and renders it —
 * the operations grouped by tag, then every component schema.
 *
 * Plain ES module, no dependencies, no build step. The pure functions are
 * exported for the unit tests (tests/js/docs.test.mjs) and do not touch the
 * DOM; the page is rendered only when a `document` exists, so the module
 * imports cleanly under Node.
 *
 * CSP-friendly: the DOM is built with createElement/textContent only (the
 * descriptions come from the document and are never parsed as HTML), no
 * inline styles or handlers; links are in-page anchors or fixed URLs.
 */

/** Where the service serves its OpenAPI document. */
export const DOCUMENT_URL = '/api/v1/openapi.json';

/** The operation keys of a path item, in the order they are listed. */
export const HTTP_METHODS = Object.freeze([
  'get',
  'put',
  'post',
  'patch',
  'delete',
  'head',
  'options',
  'trace',
]);

/** How deep a type summary follows nested schemas before it says "…". */
const MAX_SUMMARY_DEPTH = 4;

/** How deep the page nests inline schemas (tables in tables) before "…". */
const MAX_RENDER_DEPTH = 3;

/** Enum values a summary lists before it shortens the list with "…". */
const MAX_SUMMARY_ENUM_VALUES = 6;

/** The group of operations that have no tag. */
const UNTAGGED = 'untagged';

// ---------------------------------------------------------------------------
// References

function decodePointerToken(token) {
  let decoded = token;
  try {
    decoded = decodeURIComponent(token);
  } catch {
    // Not percent-encoded after all: keep it as it is.
  }
  return decoded.replace(/~1/g, '/').replace(/~0/g, '~');
}

/**
 * The last segment of a `$ref`: `#/components/schemas/Operation` →
 * `Operation` (JSON-pointer escapes decoded).
 */
export function refName(ref) {
  if (typeof ref !== 'string') return '';
  return decodePointerToken(ref.slice(ref.lastIndexOf('/') + 1));
}

/**
 * What a local `$ref` (`#/…`) points at in `root`, or undefined when it is
 * not local or points at nothing.
 */
export function resolveRef(ref, root) {
  if (typeof ref !== 'string' || !ref.startsWith('#')) return undefined;
  const pointer = ref.slice(1);
  if (pointer === '') return root;
  if (!pointer.startsWith('/')) return undefined;
  let node = root;
  for (const token of pointer.slice(1).split('/').map(decodePointerToken)) {
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, token)) {
      return undefined;
    }
    node = node[token];
  }
  return node;
}

/**
 * `value` itself, or what its `$ref` points at (followed a few times) —
 * for parameters, request bodies, responses and headers, which may be
 * references to `#/components/...`.
 */
export function deref(value, root) {
  let node = value;
  for (let hops = 0; hops < 8 && node && typeof node === 'object' && typeof node.$ref === 'string'; hops++) {
    const target = resolveRef(node.$ref, root);
    if (target === undefined) return node;
    node = target;
  }
  return node;
}

/** A fragment id made of safe characters only. */
function slug(text) {
  return String(text).replace(/[^A-Za-z0-9_-]+/g, '-');
}

/** The element id of a component schema's entry in the Schemas section. */
export function schemaAnchor(name) {
  return `schema-${slug(name)}`;
}

/** The element id of an operation: its operationId, else method and path. */
export function operationAnchor(method, path, operation) {
  const id = operation && typeof operation.operationId === 'string' && operation.operationId
    ? operation.operationId
    : `${method} ${path}`;
  return `op-${slug(id).replace(/^-+|-+$/g, '')}`;
}

/** The element id of a tag's section. */
export function tagAnchor(name) {
  return `tag-${slug(name)}`;
}

// ---------------------------------------------------------------------------
// Schemas

function isObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Whether a schema admits only null. */
function isNullSchema(schema) {
  if (!isObject(schema)) return false;
  if (schema.type === 'null') return true;
  if (Array.isArray(schema.type) && schema.type.length === 1 && schema.type[0] === 'null') return true;
  if (Object.hasOwn(schema, 'const') && schema.const === null) return true;
  return Array.isArray(schema.enum) && schema.enum.length === 1 && schema.enum[0] === null;
}

/**
 * Splits "or null" off a schema: `oneOf`/`anyOf` with a null branch,
 * `type: [T, "null"]`, an enum with null among its values, or OpenAPI 3.0's
 * `nullable: true`. Returns `{ nullable, schema }`, `schema` being the rest
 * (the one non-null branch itself when only one is left).
 */
export function unwrapNullable(schema) {
  if (!isObject(schema)) return { nullable: false, schema };
  for (const key of ['oneOf', 'anyOf']) {
    const branches = schema[key];
    if (!Array.isArray(branches) || !branches.some(isNullSchema)) continue;
    const rest = branches.filter((branch) => !isNullSchema(branch));
    if (rest.length === 1) return { nullable: true, schema: rest[0] };
    const copy = { ...schema, [key]: rest };
    if (rest.length === 0) {
      delete copy[key];
      copy.type = 'null';
      return { nullable: false, schema: copy };
    }
    return { nullable: true, schema: copy };
  }
  if (Array.isArray(schema.type) && schema.type.includes('null') && schema.type.length > 1) {
    const types = schema.type.filter((type) => type !== 'null');
    return { nullable: true, schema: { ...schema, type: types.length === 1 ? types[0] : types } };
  }
  if (Array.isArray(schema.enum) && schema.enum.includes(null) && schema.enum.length > 1) {
    return { nullable: true, schema: { ...schema, enum: schema.enum.filter((value) => value !== null) } };
  }
  if (schema.nullable === true) {
    const copy = { ...schema };
    delete copy.nullable;
    return { nullable: true, schema: copy };
  }
  return { nullable: false, schema };
}

/** A value of an enum, a const or a default, as the page shows it. */
export function formatValue(value) {
  if (typeof value === 'string') return value === '' ? '""' : value;
  const json = JSON.stringify(value);
  return json === undefined ? String(value) : json;
}

/** " 0–100", " ≥ 0", " > 0, ≤ 1": a number schema's bounds, or "". */
function rangeText(schema) {
  const number = (value) => typeof value === 'number' && Number.isFinite(value);
  let low = null;
  let high = null;
  // 3.1: exclusiveMinimum is a number; 3.0: a boolean modifying minimum.
  if (number(schema.exclusiveMinimum)) low = { value: schema.exclusiveMinimum, strict: true };
  else if (number(schema.minimum)) low = { value: schema.minimum, strict: schema.exclusiveMinimum === true };
  if (number(schema.exclusiveMaximum)) high = { value: schema.exclusiveMaximum, strict: true };
  else if (number(schema.maximum)) high = { value: schema.maximum, strict: schema.exclusiveMaximum === true };
  if (low && high && !low.strict && !high.strict) return ` ${low.value}–${high.value}`;
  const bounds = [];
  if (low) bounds.push(`${low.strict ? '>' : '≥'} ${low.value}`);
  if (high) bounds.push(`${high.strict ? '<' : '≤'} ${high.value}`);
  return bounds.length ? ` ${bounds.join(', ')}` : '';
}

/** Appends parts, merging adjacent strings. */
function pushParts(target, parts) {
  for (const part of parts) {
    if (typeof part === 'string' && typeof target[target.length - 1] === 'string') {
      target[target.length - 1] += part;
    } else {
      target.push(part);
    }
  }
  return target;
}

function joinParts(list, separator) {
  const out = [];
  list.forEach((parts, index) => {
    if (index > 0) pushParts(out, [separator]);
    pushParts(out, parts);
  });
  return out;
}

function enumParts(values) {
  const shown = values.slice(0, MAX_SUMMARY_ENUM_VALUES).map(formatValue);
  const more = values.length > MAX_SUMMARY_ENUM_VALUES ? ', …' : '';
  return [`one of: ${shown.join(', ')}${more}`];
}

function typeParts(schema, components, depth) {
  let types = Array.isArray(schema.type) ? schema.type : typeof schema.type === 'string' ? [schema.type] : [];
  if (types.length === 0) {
    if (isObject(schema.properties)) types = ['object'];
    else if (schema.items !== undefined) types = ['array'];
    else return ['any'];
  }
  if (types.length > 1) {
    return [`${types.join(' or ')}${schema.format ? ` (${schema.format})` : ''}${rangeText(schema)}`];
  }
  const [type] = types;
  if (type === 'array') {
    if (schema.items === undefined || schema.items === true) return ['array'];
    return pushParts(['array of '], summaryParts(schema.items, components, depth + 1));
  }
  if (type === 'object' && !isObject(schema.properties) && isObject(schema.additionalProperties)) {
    return pushParts(['map of '], summaryParts(schema.additionalProperties, components, depth + 1));
  }
  const format = typeof schema.format === 'string' && schema.format ? ` (${schema.format})` : '';
  const range = type === 'integer' || type === 'number' ? rangeText(schema) : '';
  return [`${type}${format}${range}`];
}

/**
 * A short type description as a list of parts: strings, and
 * `{ ref, name, anchor, missing }` for `$ref`s (`anchor` is the id of the
 * schema's entry when it is one of `components.schemas`, else null;
 * `missing` when `components` was given and the reference points at
 * nothing). The page turns the references into links.
 */
export function schemaSummaryParts(schema, components, depth = 0) {
  if (schema === undefined || schema === null || schema === true) return ['any'];
  if (schema === false) return ['nothing'];
  if (!isObject(schema)) return ['any'];
  if (depth > MAX_SUMMARY_DEPTH) return ['…'];
  return summaryParts(schema, components, depth);
}

function summaryParts(schema, components, depth) {
  if (!isObject(schema) || depth > MAX_SUMMARY_DEPTH) {
    return schemaSummaryParts(schema, components, depth);
  }
  const { nullable, schema: inner } = unwrapNullable(schema);
  const parts = nullable ? ['nullable '] : [];
  return pushParts(parts, coreParts(inner, components, depth));
}

function coreParts(schema, components, depth) {
  if (!isObject(schema)) return schemaSummaryParts(schema, components, depth);
  if (typeof schema.$ref === 'string') {
    const name = refName(schema.$ref);
    const local = schema.$ref.startsWith('#/components/schemas/');
    const target = components ? resolveRef(schema.$ref, { components }) : undefined;
    return [{
      ref: schema.$ref,
      name,
      anchor: local && (target !== undefined || !components) ? schemaAnchor(name) : null,
      missing: Boolean(components) && target === undefined,
    }];
  }
  if (Object.hasOwn(schema, 'const')) return [`always ${formatValue(schema.const)}`];
  if (Array.isArray(schema.enum)) return enumParts(schema.enum);
  for (const [key, words] of [['oneOf', 'one of'], ['anyOf', 'any of'], ['allOf', 'all of']]) {
    const branches = schema[key];
    if (!Array.isArray(branches) || branches.length === 0) continue;
    if (branches.length === 1) return summaryParts(branches[0], components, depth + 1);
    return pushParts([`${words}: `], joinParts(branches.map((b) => summaryParts(b, components, depth + 1)), ', '));
  }
  return typeParts(schema, components, depth);
}

/** The text of summary parts. */
export function partsText(parts) {
  return parts
    .map((part) => (typeof part === 'string' ? part : `${part.name}${part.missing ? ' (unresolved)' : ''}`))
    .join('');
}

/**
 * A short type description of a schema: "string (uuid)", "integer 0–100",
 * "one of: pending, processing, completed, failed", "nullable Operation",
 * "array of string", "any". `components` is the document's `components`;
 * with it, a `$ref` to a schema that does not exist says "(unresolved)".
 */
export function schemaSummary(schema, components) {
  return partsText(schemaSummaryParts(schema, components));
}

/**
 * The constraints of a schema that its summary does not already show
 * (the summary shows the type, format, numeric bounds and enum values):
 * a list of `{ label, value, code }`, `code` when the value is literal
 * (a pattern, a default).
 */
export function schemaConstraints(schema) {
  const { schema: s } = unwrapNullable(schema);
  if (!isObject(s)) return [];
  const out = [];
  const span = (label, min, max, unit = '') => {
    const hasMin = Number.isFinite(min);
    const hasMax = Number.isFinite(max);
    if (hasMin && hasMax) out.push({ label, value: min === max ? `exactly ${min}${unit}` : `${min}–${max}${unit}`, code: false });
    else if (hasMin) out.push({ label, value: `≥ ${min}${unit}`, code: false });
    else if (hasMax) out.push({ label, value: `≤ ${max}${unit}`, code: false });
  };
  span('length', s.minLength, s.maxLength);
  if (typeof s.pattern === 'string') out.push({ label: 'pattern', value: s.pattern, code: true });
  if (Number.isFinite(s.multipleOf)) out.push({ label: 'multiple of', value: String(s.multipleOf), code: false });
  span('items', s.minItems, s.maxItems);
  if (s.uniqueItems === true) out.push({ label: 'unique items', value: '', code: false });
  span('properties', s.minProperties, s.maxProperties);
  if (Object.hasOwn(s, 'default')) out.push({ label: 'default', value: JSON.stringify(s.default) ?? String(s.default), code: true });
  if (s.readOnly === true) out.push({ label: 'read-only', value: '', code: false });
  if (s.writeOnly === true) out.push({ label: 'write-only', value: '', code: false });
  if (s.deprecated === true) out.push({ label: 'deprecated', value: '', code: false });
  return out;
}

/** A schema's description, or that of its non-null branch. */
export function schemaDescription(schema) {
  if (!isObject(schema)) return '';
  if (typeof schema.description === 'string') return schema.description;
  const { schema: inner } = unwrapNullable(schema);
  return isObject(inner) && typeof inner.description === 'string' ? inner.description : '';
}

// ---------------------------------------------------------------------------
// Operations

/**
 * A path item's parameters merged with an operation's (the operation's win
 * on the same name and location), references resolved.
 */
export function mergeParameters(pathParameters, operationParameters, root) {
  const byKey = new Map();
  const add = (list) => {
    if (!Array.isArray(list)) return;
    for (const raw of list) {
      const parameter = deref(raw, root);
      if (!isObject(parameter) || typeof parameter.name !== 'string') continue;
      const key = `${parameter.in}:${parameter.name}`;
      byKey.delete(key);
      byKey.set(key, parameter);
    }
  };
  add(pathParameters);
  add(operationParameters);
  return [...byKey.values()];
}

/**
 * The operations of a document grouped by tag: the tags in the order the
 * document declares them, then undeclared tags as they occur, then the
 * untagged operations (as "untagged"). Tags without operations are left
 * out. Each group is `{ name, description, operations }`, each operation
 * `{ method, path, operation, parameters, anchor }`, in path order and
 * then method order; an operation with several tags is in each group.
 */
export function operationsByTag(document) {
  const groups = new Map();
  const group = (name, description = '') => {
    if (!groups.has(name)) groups.set(name, { name, description, operations: [] });
    return groups.get(name);
  };
  for (const tag of Array.isArray(document?.tags) ? document.tags : []) {
    if (isObject(tag) && typeof tag.name === 'string') {
      group(tag.name, typeof tag.description === 'string' ? tag.description : '');
    }
  }
  const untagged = [];
  const paths = isObject(document?.paths) ? document.paths : {};
  for (const [path, rawItem] of Object.entries(paths)) {
    const item = deref(rawItem, document);
    if (!isObject(item)) continue;
    for (const method of HTTP_METHODS) {
      const operation = item[method];
      if (!isObject(operation)) continue;
      const entry = {
        method,
        path,
        operation,
        parameters: mergeParameters(item.parameters, operation.parameters, document),
        anchor: operationAnchor(method, path, operation),
      };
      const tags = Array.isArray(operation.tags)
        ? [...new Set(operation.tags.filter((tag) => typeof tag === 'string'))]
        : [];
      if (tags.length === 0) untagged.push(entry);
      for (const tag of tags) group(tag).operations.push(entry);
    }
  }
  if (untagged.length > 0) {
    const rest = group(UNTAGGED, 'Operations without a tag.');
    rest.operations.push(...untagged);
  }
  return [...groups.values()].filter((g) => g.operations.length > 0);
}

/** The CSS class of a response status: "2xx", "4xx", … or "other". */
export function statusClass(status) {
  const match = /^([1-5])(?:\d\d|XX)$/i.exec(String(status));
  return match ? `${match[1]}xx` : 'other';
}

// ---------------------------------------------------------------------------
// Descriptions (a small, safe subset of Markdown)

/** Text with `code spans` as `[{ text } | { code }]`. */
export function inlineParts(text) {
  const parts = [];
  const pattern = /`([^`]+)`/g;
  let last = 0;
  let match;
  while ((match = pattern.exec(text)) !== null) {
    if (match.index > last) parts.push({ text: text.slice(last, match.index) });
    parts.push({ code: match[1] });
    last = pattern.lastIndex;
  }
  if (last < text.length) parts.push({ text: text.slice(last) });
  return parts;
}

/**
 * A description as blocks: paragraphs (`{ kind: 'p', parts }`, hard-wrapped
 * lines joined), lists (`{ kind: 'ul', items: [parts] }`, lines starting
 * with "- " or "* ") and fenced code (`{ kind: 'pre', text }`).
 */
export function descriptionBlocks(text) {
  if (typeof text !== 'string' || text.trim() === '') return [];
  const blocks = [];
  let paragraph = [];
  let list = null;
  let fence = null;
  const flush = () => {
    if (paragraph.length > 0) {
      blocks.push({ kind: 'p', parts: inlineParts(paragraph.join(' ')) });
      paragraph = [];
    }
    if (list) {
      blocks.push({ kind: 'ul', items: list.map((item) => inlineParts(item.join(' '))) });
      list = null;
    }
  };
  for (const line of text.replace(/\r\n?/g, '\n').split('\n')) {
    if (fence) {
      if (line.trim().startsWith(fence.marker)) {
        blocks.push({ kind: 'pre', text: fence.lines.join('\n') });
        fence = null;
      } else {
        fence.lines.push(line);
      }
      continue;
    }
    const opening = /^\s*(```|~~~)/.exec(line);
    if (opening) {
      flush();
      fence = { marker: opening[1], lines: [] };
      continue;
    }
    if (line.trim() === '') {
      flush();
      continue;
    }
    const bullet = /^\s*[-*]\s+(.*)$/.exec(line);
    if (bullet) {
      if (paragraph.length > 0) {
        blocks.push({ kind: 'p', parts: inlineParts(paragraph.join(' ')) });
        paragraph = [];
      }
      list ??= [];
      list.push([bullet[1].trim()]);
    } else if (list) {
      list[list.length - 1].push(line.trim());
    } else {
      paragraph.push(line.trim());
    }
  }
  if (fence) blocks.push({ kind: 'pre', text: fence.lines.join('\n') });
  flush();
  return blocks;
}

// ---------------------------------------------------------------------------
// The page (browser only)

/** An element with a class and children (strings become text nodes). */
function el(tag, className, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  return add(node, ...children);
}

/** Appends children to `parent`, skipping null, undefined and false. */
function add(parent, ...children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child);
  }
  return parent;
}

function link(href, ...children) {
  const a = el('a', '', ...children);
  a.setAttribute('href', href);
  return a;
}

function inlineNodes(parts) {
  return parts.map((part) => (part.code !== undefined ? el('code', '', part.code) : part.text));
}

/** A description as nodes (paragraphs, lists, preformatted blocks). */
function descriptionNodes(text, className = 'description') {
  const blocks = descriptionBlocks(text);
  if (blocks.length === 0) return null;
  const container = el('div', className);
  for (const block of blocks) {
    if (block.kind === 'pre') {
      const pre = el('pre', 'code-block', el('code', '', block.text));
      pre.tabIndex = 0;
      add(container, pre);
    } else if (block.kind === 'ul') {
      add(container, el('ul', '', block.items.map((item) => el('li', '', inlineNodes(item)))));
    } else {
      add(container, el('p', '', inlineNodes(block.parts)));
    }
  }
  return container;
}

/** A schema's summary with its `$ref`s as links to the Schemas section. */
function summaryNode(schema, ctx) {
  const parts = schemaSummaryParts(schema, ctx.components);
  return el('span', 'type', parts.map((part) => {
    if (typeof part === 'string') return part;
    if (part.anchor && ctx.schemaNames.has(part.name)) {
      return link(`#${part.anchor}`, el('code', '', part.name));
    }
    return el('code', 'unresolved', partsText([part]));
  }));
}

function constraintsNode(schema) {
  const list = schemaConstraints(schema);
  if (list.length === 0) return null;
  return el('ul', 'constraints', list.map(({ label, value, code }) => el(
    'li',
    '',
    label,
    value ? ' ' : '',
    value ? (code ? el('code', '', value) : value) : '',
  )));
}

/** A table cell with a label shown when the table stacks on narrow screens. */
function cell(label, ...children) {
  const td = el('td', '', ...children);
  td.dataset.label = label;
  return td;
}

function table(className, headings, rows) {
  const thead = el('thead', '', el('tr', '', headings.map((heading) => {
    const th = el('th', '', heading);
    th.setAttribute('scope', 'col');
    return th;
  })));
  return el('div', 'table-wrap', el('table', `fields ${className}`, thead, el('tbody', '', rows)));
}

function requiredMarker() {
  return el('span', 'required', 'required');
}

/** Whether a property's schema is an inline object worth a nested table. */
function nestedObject(schema) {
  const { schema: s } = unwrapNullable(schema);
  if (!isObject(s) || typeof s.$ref === 'string') return null;
  if (isObject(s.properties)) return s;
  if (isObject(s.items) && typeof s.items.$ref !== 'string' && isObject(s.items.properties)) return s.items;
  return null;
}

function propertiesTable(schema, ctx, depth) {
  const required = new Set(Array.isArray(schema.required) ? schema.required : []);
  const rows = Object.entries(schema.properties).map(([name, property]) => {
    const nameCell = cell('Name', el('code', 'name', name));
    if (required.has(name)) add(nameCell, ' ', requiredMarker());
    const about = cell('Description', descriptionNodes(schemaDescription(property)));
    const nested = nestedObject(property);
    if (nested) add(about, renderSchema(nested, ctx, depth + 1));
    return el('tr', '', nameCell, cell('Type', summaryNode(property, ctx)), cell('Constraints', constraintsNode(property)), about);
  });
  return table('properties', ['Name', 'Type', 'Constraints', 'Description'], rows);
}

/**
 * A schema's details: a link for a `$ref`, enum values, the branches of a
 * oneOf/anyOf/allOf, a table of properties, or its type and constraints.
 * Recursive, down to MAX_RENDER_DEPTH.
 */
function renderSchema(schema, ctx, depth = 0) {
  const box = el('div', 'schema');
  if (depth > MAX_RENDER_DEPTH) {
    add(box, el('p', 'meta', '…'));
    return box;
  }
  const { nullable, schema: s } = unwrapNullable(schema);
  if (!isObject(s) || typeof s.$ref === 'string') {
    add(box, el('p', 'schema-type', summaryNode(schema, ctx)));
    return box;
  }
  if (Array.isArray(s.enum)) {
    const base = typeof s.type === 'string' ? s.type : 'value';
    add(box, el('p', 'schema-type', nullable ? `nullable ${base}, one of:` : `${base}, one of:`));
    add(box, el('ul', 'enum', s.enum.map((value) => el('li', '', el('code', '', formatValue(value))))));
    return box;
  }
  const composition = [['oneOf', 'One of'], ['anyOf', 'Any of'], ['allOf', 'All of']]
    .find(([key]) => Array.isArray(s[key]) && s[key].length > 0);
  if (composition) {
    const [key, words] = composition;
    add(box, el('p', 'schema-type', nullable ? `Null, or ${words.toLowerCase()}:` : `${words}:`));
    add(box, el('ul', 'variants', s[key].map((branch) => {
      if (isObject(branch) && typeof branch.$ref === 'string') {
        return el('li', '', summaryNode(branch, ctx), descriptionNodes(schemaDescription(branch)));
      }
      return el('li', '', descriptionNodes(schemaDescription(branch)), renderSchema(branch, ctx, depth + 1));
    })));
    return box;
  }
  if (isObject(s.properties)) {
    if (nullable) add(box, el('p', 'schema-type', 'nullable object'));
    add(box, propertiesTable(s, ctx, depth));
    if (s.additionalProperties === false) {
      add(box, el('p', 'meta', 'No other properties are allowed.'));
    } else if (isObject(s.additionalProperties)) {
      add(box, el('p', 'meta', 'Other properties: ', summaryNode(s.additionalProperties, ctx)));
    }
    return box;
  }
  add(box, el('p', 'schema-type', summaryNode(schema, ctx)));
  const constraints = constraintsNode(schema);
  if (constraints) add(box, constraints);
  const items = nestedObject(s);
  if (items) add(box, renderSchema(items, ctx, depth + 1));
  return box;
}

/** Whether a schema renders as one line: a `$ref` or a plain type. */
function simpleSchema(schema) {
  const { schema: s } = unwrapNullable(schema);
  if (!isObject(s) || typeof s.$ref === 'string') return true;
  if (Array.isArray(s.enum) || isObject(s.properties) || nestedObject(s)) return false;
  if (['oneOf', 'anyOf', 'allOf'].some((key) => Array.isArray(s[key]) && s[key].length > 1)) return false;
  return schemaConstraints(s).length === 0;
}

/**
 * The content of a request body or response: each media type with its
 * schema — on one line when the schema is a reference or a plain type.
 */
function contentNode(content, ctx) {
  const entries = isObject(content) ? Object.entries(content) : [];
  if (entries.length === 0) return null;
  return el('div', 'content', entries.map(([mediaType, media]) => {
    const schema = isObject(media) ? media.schema : undefined;
    const type = el('code', 'media-type', mediaType);
    if (schema === undefined) return el('div', 'media', el('p', 'media-line', type));
    if (simpleSchema(schema)) {
      return el('div', 'media', el('p', 'media-line', type, ' ', summaryNode(schema, ctx)));
    }
    return el('div', 'media', el('p', 'media-line', type), renderSchema(schema, ctx));
  }));
}

function parametersNode(parameters, ctx) {
  const rows = parameters.map((parameter) => {
    const schema = parameter.schema !== undefined
      ? parameter.schema
      : isObject(parameter.content) ? Object.values(parameter.content)[0]?.schema : undefined;
    const nameCell = cell('Name', el('code', 'name', parameter.name));
    if (parameter.required === true) add(nameCell, ' ', requiredMarker());
    if (parameter.deprecated === true) add(nameCell, ' ', el('span', 'deprecated', 'deprecated'));
    return el(
      'tr',
      '',
      nameCell,
      cell('In', String(parameter.in ?? '')),
      cell('Type', summaryNode(schema, ctx)),
      cell('Constraints', constraintsNode(schema)),
      cell('Description', descriptionNodes(parameter.description ?? schemaDescription(schema))),
    );
  });
  return table('parameters', ['Name', 'In', 'Type', 'Constraints', 'Description'], rows);
}

function headersNode(headers, ctx) {
  const entries = isObject(headers) ? Object.entries(headers) : [];
  if (entries.length === 0) return null;
  return el('ul', 'header-list', entries.map(([name, raw]) => {
    const header = deref(raw, ctx.document) ?? {};
    return el(
      'li',
      '',
      el('code', 'name', name),
      ' ',
      summaryNode(header.schema, ctx),
      header.required === true ? [' ', requiredMarker()] : null,
      descriptionNodes(header.description ?? schemaDescription(header.schema), 'description header-description'),
    );
  }));
}

/** Every response: status, description, body and headers, one row each. */
function responsesNode(responses, ctx) {
  const entries = isObject(responses) ? Object.entries(responses) : [];
  if (entries.length === 0) return el('p', 'meta', 'No responses are described.');
  const rows = entries.map(([status, raw]) => {
    const response = deref(raw, ctx.document) ?? {};
    return el(
      'tr',
      '',
      cell('Status', el('span', `status-code status-${statusClass(status)}`, status)),
      cell('Description', descriptionNodes(response.description ?? '')),
      cell('Body', contentNode(response.content, ctx) ?? el('span', 'meta', 'none')),
      cell('Headers', headersNode(response.headers, ctx)),
    );
  });
  return table('responses', ['Status', 'Description', 'Body', 'Headers'], rows);
}

function methodBadge(method) {
  return el('span', `method method-${method}`, method.toUpperCase());
}

/** A path with its {parameters} set off, breakable before each "/". */
function pathNode(path) {
  const node = el('code', 'path');
  path.split(/(?=\/)/).forEach((segment, index) => {
    if (index > 0) add(node, el('wbr'));
    add(node, segment.split(/(\{[^}]*\})/).filter(Boolean).map(
      (piece) => (piece.startsWith('{') ? el('span', 'path-param', piece) : piece),
    ));
  });
  return node;
}

function operationNode(entry, id, ctx) {
  const { method, path, operation, parameters } = entry;
  const article = el('article', 'card operation');
  article.id = id;
  add(article, el('h3', 'operation-head', methodBadge(method), ' ', pathNode(path)));
  if (typeof operation.operationId === 'string') {
    add(article, el('p', 'meta operation-id', 'operationId ', el('code', '', operation.operationId)));
  }
  if (operation.deprecated === true) add(article, el('p', 'deprecated', 'Deprecated.'));
  add(article, descriptionNodes(operation.summary ?? '', 'description summary'));
  add(article, descriptionNodes(operation.description ?? ''));

  if (parameters.length > 0) {
    add(article, el('h4', '', 'Parameters'), parametersNode(parameters, ctx));
  }
  const body = deref(operation.requestBody, ctx.document);
  if (isObject(body)) {
    add(article, 
      el('h4', '', 'Request body ', body.required === true ? requiredMarker() : el('span', 'optional', '(optional)')),
      descriptionNodes(body.description ?? ''),
      contentNode(body.content, ctx),
    );
  }
  add(article, el('h4', '', 'Responses'), responsesNode(operation.responses, ctx));
  return article;
}

function contentsNode(groups, anchors, hasSchemas) {
  const nav = el('nav', 'card contents');
  nav.setAttribute('aria-labelledby', 'contents-heading');
  const heading = el('h2', '', 'Contents');
  heading.id = 'contents-heading';
  add(nav, heading);
  const list = el('ul', 'contents-list', groups.map((group) => el(
    'li',
    '',
    link(`#${tagAnchor(group.name)}`, group.name),
    el('ul', 'contents-operations', group.operations.map((entry) => el(
      'li',
      '',
      link(`#${anchors.get(group).get(entry)}`, methodBadge(entry.method), ' ', pathNode(entry.path)),
    ))),
  )));
  if (hasSchemas) add(list, el('li', '', link('#schemas', 'Schemas')));
  add(nav, list);
  return nav;
}

/** Renders the whole document into `root`. */
export function renderDocument(doc, root) {
  const components = isObject(doc.components) ? doc.components : {};
  const schemas = isObject(components.schemas) ? components.schemas : {};
  const ctx = { document: doc, components, schemaNames: new Set(Object.keys(schemas)) };
  const info = isObject(doc.info) ? doc.info : {};

  const title = typeof info.title === 'string' && info.title ? info.title : 'API';
  document.title = `${title} API documentation`;
  const titleNode = document.getElementById('doc-title');
  if (titleNode) titleNode.textContent = `${title} API`;
  const meta = document.getElementById('doc-meta');
  if (meta) {
    meta.replaceChildren(
      el('span', 'version', `version ${info.version ?? '?'}`),
      ` · OpenAPI ${doc.openapi ?? '?'}`,
      isObject(info.license) && info.license.name ? ` · ${info.license.name} licence` : '',
    );
  }

  const groups = operationsByTag(doc);
  // One id per operation and tag section, unique even when an operation
  // has several tags.
  const used = new Set();
  const anchors = new Map(groups.map((group) => [group, new Map(group.operations.map((entry) => {
    let id = entry.anchor;
    for (let n = 2; used.has(id); n++) id = `${entry.anchor}-${n}`;
    used.add(id);
    return [entry, id];
  }))]));

  const fragment = document.createDocumentFragment();
  const intro = descriptionNodes(info.description ?? '', 'description intro');
  if (intro) add(fragment, el('section', 'card', intro));
  add(fragment, contentsNode(groups, anchors, ctx.schemaNames.size > 0));

  for (const group of groups) {
    const section = el('section', 'tag');
    section.id = tagAnchor(group.name);
    add(section, el('h2', 'tag-name', group.name), descriptionNodes(group.description, 'description tag-description'));
    for (const entry of group.operations) {
      add(section, operationNode(entry, anchors.get(group).get(entry), ctx));
    }
    add(fragment, section);
  }

  if (ctx.schemaNames.size > 0) {
    const section = el('section', 'schemas');
    section.id = 'schemas';
    add(section, el('h2', '', 'Schemas'));
    for (const [name, schema] of Object.entries(schemas)) {
      const article = el('article', 'card schema-entry');
      article.id = schemaAnchor(name);
      add(article, el('h3', '', el('code', '', name)));
      add(article, descriptionNodes(schemaDescription(schema)));
      add(article, renderSchema(schema, ctx));
      add(section, article);
    }
    add(fragment, section);
  }
  root.replaceChildren(fragment);
}

function showError(status, message) {
  status.classList.add('error');
  status.setAttribute('role', 'alert');
  status.replaceChildren(
    el('strong', '', 'Could not load the API description. '),
    message,
    ' ',
    link(DOCUMENT_URL, 'Open the raw document.'),
  );
}

/** Fetches the document and renders the page. */
export async function start({ fetchImpl = globalThis.fetch } = {}) {
  const root = document.getElementById('docs');
  const status = document.getElementById('docs-status');
  let doc;
  try {
    const response = await fetchImpl(DOCUMENT_URL, { headers: { Accept: 'application/json' } });
    if (!response.ok) throw new Error(`The service answered ${response.status}.`);
    doc = await response.json();
    if (!isObject(doc)) throw new Error('The answer is not a JSON object.');
  } catch (error) {
    if (status) showError(status, error instanceof Error ? error.message : String(error));
    return;
  }
  renderDocument(doc, root);
  root.hidden = false;
  if (status) status.hidden = true;
  // The content came after the page loaded: go to the fragment now.
  if (location.hash.length > 1) {
    let id = location.hash.slice(1);
    try {
      id = decodeURIComponent(id);
    } catch {
      // Keep the raw fragment.
    }
    document.getElementById(id)?.scrollIntoView();
  }
}

if (globalThis.document && globalThis.document.getElementById('docs')) {
  start();
}
