// Unit tests of the pure functions of static/docs/docs.js (the API
// documentation page at /docs/), against a copy of the service's OpenAPI
// document in fixtures/openapi.json. Importing the module must not touch
// the DOM: Node has no `document`. Run with `node --test tests/js/`.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import {
  DOCUMENT_URL,
  deref,
  descriptionBlocks,
  formatValue,
  inlineParts,
  mergeParameters,
  operationAnchor,
  operationsByTag,
  partsText,
  refName,
  resolveRef,
  schemaAnchor,
  schemaConstraints,
  schemaDescription,
  schemaSummary,
  schemaSummaryParts,
  statusClass,
  unwrapNullable,
} from '../../static/docs/docs.js';

const doc = JSON.parse(readFileSync(new URL('./fixtures/openapi.json', import.meta.url), 'utf8'));
const { components } = doc;
const { schemas } = components;
const prop = (schema, name) => schemas[schema].properties[name];

describe('importing docs.js', () => {
  it('works without a DOM and names the document URL', () => {
    assert.equal(globalThis.document, undefined);
    assert.equal(DOCUMENT_URL, '/api/v1/openapi.json');
  });
});

describe('refName / resolveRef / deref', () => {
  it('takes the last segment of a reference, JSON-pointer escapes decoded', () => {
    assert.equal(refName('#/components/schemas/Operation'), 'Operation');
    assert.equal(refName('#/components/schemas/a~1b~0c'), 'a/b~c');
    assert.equal(refName(undefined), '');
  });

  it('resolves local references and nothing else', () => {
    assert.equal(resolveRef('#/components/schemas/Operation', doc), schemas.Operation);
    assert.equal(resolveRef('#/components/schemas/Nope', doc), undefined);
    assert.equal(resolveRef('other.json#/x', doc), undefined);
    assert.equal(resolveRef('#', doc), doc);
  });

  it('follows $refs of parameters and responses, and leaves other values alone', () => {
    const root = {
      components: {
        parameters: { Id: { name: 'id', in: 'path' } },
        responses: { Alias: { $ref: '#/components/responses/Gone' }, Gone: { description: 'Gone.' } },
      },
    };
    assert.deepEqual(deref({ $ref: '#/components/parameters/Id' }, root), { name: 'id', in: 'path' });
    assert.deepEqual(deref({ $ref: '#/components/responses/Alias' }, root), { description: 'Gone.' });
    const dangling = { $ref: '#/components/responses/Missing' };
    assert.equal(deref(dangling, root), dangling);
    assert.equal(deref(undefined, root), undefined);
  });
});

describe('unwrapNullable', () => {
  it('splits null off a oneOf', () => {
    const { nullable, schema } = unwrapNullable(prop('Operation', 'error_code'));
    assert.equal(nullable, true);
    assert.equal(schema.$ref, '#/components/schemas/ErrorCode');
  });

  it('splits null off a type list', () => {
    assert.deepEqual(unwrapNullable({ type: ['string', 'null'] }), { nullable: true, schema: { type: 'string' } });
    assert.deepEqual(unwrapNullable({ type: ['string', 'integer', 'null'] }), {
      nullable: true,
      schema: { type: ['string', 'integer'] },
    });
  });

  it('understands enums with null and OpenAPI 3.0 nullable', () => {
    assert.deepEqual(unwrapNullable({ enum: ['a', null] }), { nullable: true, schema: { enum: ['a'] } });
    assert.deepEqual(unwrapNullable({ type: 'string', nullable: true }), { nullable: true, schema: { type: 'string' } });
  });

  it('leaves other schemas alone', () => {
    const schema = { type: 'string' };
    assert.deepEqual(unwrapNullable(schema), { nullable: false, schema });
    assert.deepEqual(unwrapNullable({ type: 'null' }), { nullable: false, schema: { type: 'null' } });
  });
});

describe('schemaSummary', () => {
  it('gives the type and the format', () => {
    assert.equal(schemaSummary(prop('Operation', 'id'), components), 'string (uuid)');
    assert.equal(schemaSummary(prop('Operation', 'created_at'), components), 'string (date-time)');
    assert.equal(schemaSummary(prop('Operation', 'attempts'), components), 'integer (int32)');
    assert.equal(schemaSummary({ type: 'boolean' }, components), 'boolean');
  });

  it('gives numeric bounds as a range', () => {
    assert.equal(schemaSummary({ type: 'integer', minimum: 0, maximum: 100 }), 'integer 0–100');
    assert.equal(schemaSummary(prop('ProgressReport', 'percent'), components), 'integer (int32) 0–100');
    assert.equal(schemaSummary(doc.paths['/api/v1/operations/{operation_id}'].get.parameters[1].schema), 'number (double) ≥ 0');
    assert.equal(schemaSummary({ type: 'number', maximum: 1 }), 'number ≤ 1');
    assert.equal(schemaSummary({ type: 'number', exclusiveMinimum: 0, maximum: 1 }), 'number > 0, ≤ 1');
  });

  it('lists enum values, shortening long lists', () => {
    assert.equal(schemaSummary(schemas.Status, components), 'one of: pending, processing, completed, failed');
    assert.equal(schemaSummary(schemas.ErrorCode, components), 'one of: CANCELLED, TIMEOUT, LEASE_EXPIRED, UPSTREAM_RATE_LIMITED, UPSTREAM_ERROR, HANDLER_ERROR');
    assert.equal(schemaSummary({ enum: [1, 2, 3, 4, 5, 6, 7, 8] }), 'one of: 1, 2, 3, 4, 5, 6, …');
    assert.equal(schemaSummary({ const: 'echo' }), 'always echo');
  });

  it('says "nullable" for oneOf/anyOf with null and for type lists with null', () => {
    assert.equal(schemaSummary({ oneOf: [{ type: 'null' }, { $ref: '#/components/schemas/Operation' }] }, components), 'nullable Operation');
    assert.equal(schemaSummary({ anyOf: [{ $ref: '#/components/schemas/Operation' }, { type: 'null' }] }, components), 'nullable Operation');
    assert.equal(schemaSummary(prop('Operation', 'progress'), components), 'nullable ProgressReport');
    assert.equal(schemaSummary(prop('Operation', 'error_message'), components), 'nullable string');
    assert.equal(schemaSummary(prop('EchoInput', 'delay_ms'), components), 'nullable integer (int64) 0–600000');
    assert.equal(schemaSummary({ enum: ['a', 'b', null] }), 'nullable one of: a, b');
  });

  it('names references, and says when one points at nothing', () => {
    assert.equal(schemaSummary(prop('Operation', 'status'), components), 'Status');
    assert.equal(schemaSummary({ $ref: '#/components/schemas/Nope' }, components), 'Nope (unresolved)');
    assert.equal(schemaSummary({ $ref: '#/components/schemas/Nope' }), 'Nope');
  });

  it('describes arrays, maps, compositions and schemas without a type', () => {
    assert.equal(schemaSummary(prop('QuestionGenerationInput', 'previous_questions'), components), 'nullable array of string');
    assert.equal(schemaSummary({ type: 'array', items: { $ref: '#/components/schemas/Operation' } }, components), 'array of Operation');
    assert.equal(schemaSummary({ type: 'object', additionalProperties: { type: 'integer' } }), 'map of integer');
    assert.equal(schemaSummary(prop('Readiness', 'checks'), components), 'object');
    assert.equal(
      schemaSummary(schemas.CreateOperation, components),
      'one of: QuestionGenerationRequest, AnswerFeedbackRequest, EchoRequest',
    );
    assert.equal(schemaSummary(prop('Operation', 'result'), components), 'any');
    assert.equal(schemaSummary(undefined), 'any');
    assert.equal(schemaSummary(true), 'any');
    assert.equal(schemaSummary({ type: 'null' }), 'null');
  });

  it('stops at a depth limit', () => {
    let deep = { type: 'string' };
    for (let i = 0; i < 10; i++) deep = { type: 'array', items: deep };
    assert.match(schemaSummary(deep), /^(array of ){4,5}…$/);
  });
});

describe('schemaSummaryParts', () => {
  it('gives references as parts with the anchor of their schema entry', () => {
    const parts = schemaSummaryParts(prop('Operation', 'progress'), components);
    assert.deepEqual(parts, [
      'nullable ',
      { ref: '#/components/schemas/ProgressReport', name: 'ProgressReport', anchor: 'schema-ProgressReport', missing: false },
    ]);
    assert.equal(partsText(parts), 'nullable ProgressReport');
  });

  it('gives no anchor to a reference that points at nothing', () => {
    const [part] = schemaSummaryParts({ $ref: '#/components/schemas/Nope' }, components);
    assert.equal(part.anchor, null);
    assert.equal(part.missing, true);
  });

  it('keeps several references apart', () => {
    const parts = schemaSummaryParts(schemas.CreateOperation, components);
    assert.equal(parts[0], 'one of: ');
    assert.deepEqual(
      parts.filter((part) => typeof part !== 'string').map((part) => part.name),
      ['QuestionGenerationRequest', 'AnswerFeedbackRequest', 'EchoRequest'],
    );
  });
});

describe('schemaConstraints', () => {
  it('lists lengths and patterns', () => {
    assert.deepEqual(schemaConstraints(prop('QuestionGenerationInput', 'role')), [
      { label: 'length', value: '1–200', code: false },
      { label: 'pattern', value: '\\S', code: true },
    ]);
    // Nullable: the constraints of the non-null part.
    assert.deepEqual(schemaConstraints(prop('EchoInput', 'fail')), [
      { label: 'length', value: '1–2000', code: false },
      { label: 'pattern', value: '\\S', code: true },
    ]);
  });

  it('lists item counts, defaults and flags', () => {
    assert.deepEqual(schemaConstraints(prop('QuestionGenerationInput', 'previous_questions')), [
      { label: 'items', value: '≤ 500', code: false },
    ]);
    assert.deepEqual(schemaConstraints({ type: 'string', minLength: 3, default: 'abc', readOnly: true }), [
      { label: 'length', value: '≥ 3', code: false },
      { label: 'default', value: '"abc"', code: true },
      { label: 'read-only', value: '', code: false },
    ]);
  });

  it('leaves out what the summary shows', () => {
    assert.deepEqual(schemaConstraints(prop('ProgressReport', 'percent')), []);
    assert.deepEqual(schemaConstraints(schemas.Status), []);
    assert.deepEqual(schemaConstraints(undefined), []);
  });
});

describe('schemaDescription', () => {
  it('takes the description of the schema, else of its non-null branch', () => {
    assert.equal(schemaDescription(prop('EchoInput', 'delay_ms')), 'How long to wait, in milliseconds (0 when absent).');
    assert.equal(schemaDescription(prop('Operation', 'error_code')), 'Why it failed, for machines; null unless failed.');
    assert.equal(schemaDescription(prop('EchoRequest', 'input')), 'Every field is optional, so the input may be left out.');
    assert.equal(schemaDescription(prop('Operation', 'id')), '');
  });
});

describe('operationsByTag', () => {
  const groups = operationsByTag(doc);

  it('groups the operations by tag, in the order the document declares the tags', () => {
    assert.deepEqual(groups.map((g) => g.name), ['operations', 'service']);
    assert.equal(groups[0].description, 'Creating, polling and cancelling operations.');
    assert.equal(groups[1].description, 'Health, metrics and this document.');
  });

  it('lists every operation once, in path order', () => {
    const list = (group) => group.operations.map((op) => `${op.method.toUpperCase()} ${op.path}`);
    assert.deepEqual(list(groups[0]), [
      'POST /api/v1/operations',
      'GET /api/v1/operations/{operation_id}',
      'POST /api/v1/operations/{operation_id}/cancel',
      'GET /api/v1/operations/{operation_id}/events',
    ]);
    assert.deepEqual(list(groups[1]), [
      'GET /api/v1/openapi.json',
      'GET /health/live',
      'GET /health/ready',
      'GET /metrics',
    ]);
  });

  it('carries the operation, its parameters and an anchor', () => {
    const get = groups[0].operations[1];
    assert.equal(get.operation, doc.paths['/api/v1/operations/{operation_id}'].get);
    assert.deepEqual(get.parameters.map((p) => `${p.in}:${p.name}`), ['path:operation_id', 'query:wait', 'header:If-None-Match']);
    assert.equal(get.anchor, 'op-get_operation');
    assert.deepEqual(groups[1].operations[3].parameters, []);
  });

  it('adds undeclared tags, puts untagged operations last and drops empty tags', () => {
    const custom = {
      tags: [{ name: 'empty' }, { name: 'b', description: 'B.' }],
      paths: {
        '/x': { get: { tags: ['a'] }, post: { tags: ['b', 'a'] } },
        '/y': { delete: {} },
      },
    };
    const result = operationsByTag(custom);
    assert.deepEqual(result.map((g) => g.name), ['b', 'a', 'untagged']);
    assert.deepEqual(result[1].operations.map((op) => op.method), ['get', 'post']);
    assert.deepEqual(result[2].operations.map((op) => `${op.method} ${op.path}`), ['delete /y']);
    assert.equal(result[2].operations[0].anchor, 'op-delete-y');
  });

  it('copes with an empty document', () => {
    assert.deepEqual(operationsByTag({}), []);
    assert.deepEqual(operationsByTag(undefined), []);
  });
});

describe('mergeParameters', () => {
  it('lets the operation override a path parameter and resolves references', () => {
    const root = { components: { parameters: { Q: { name: 'q', in: 'query', description: 'shared' } } } };
    const merged = mergeParameters(
      [{ name: 'id', in: 'path', description: 'path level' }, { $ref: '#/components/parameters/Q' }],
      [{ name: 'id', in: 'path', description: 'operation level' }],
      root,
    );
    assert.deepEqual(merged.map((p) => p.description), ['shared', 'operation level']);
  });
});

describe('anchors and status classes', () => {
  it('makes safe fragment ids', () => {
    assert.equal(schemaAnchor('Operation'), 'schema-Operation');
    assert.equal(schemaAnchor('a b/c'), 'schema-a-b-c');
    assert.equal(operationAnchor('get', '/a/{id}', {}), 'op-get-a-id');
    assert.equal(operationAnchor('get', '/a', { operationId: 'get_a' }), 'op-get_a');
  });

  it('classes statuses by their first digit', () => {
    assert.equal(statusClass('202'), '2xx');
    assert.equal(statusClass(304), '3xx');
    assert.equal(statusClass('4XX'), '4xx');
    assert.equal(statusClass('default'), 'other');
  });

  it('formats values', () => {
    assert.equal(formatValue('x'), 'x');
    assert.equal(formatValue(''), '""');
    assert.equal(formatValue(null), 'null');
    assert.equal(formatValue(3), '3');
  });
});

describe('descriptionBlocks', () => {
  it('joins hard-wrapped lines and marks code spans', () => {
    const summary = doc.paths['/api/v1/operations/{operation_id}/events'].get.summary;
    const blocks = descriptionBlocks(summary);
    assert.equal(blocks.length, 1);
    assert.equal(blocks[0].kind, 'p');
    assert.ok(blocks[0].parts.some((part) => part.code === 'event: operation'));
    assert.ok(blocks[0].parts.some((part) => part.code === 'Last-Event-ID'));
  });

  it('keeps fenced code as it is and splits paragraphs', () => {
    const blocks = descriptionBlocks(schemas.Status.description);
    assert.deepEqual(blocks.map((b) => b.kind), ['p', 'pre', 'p']);
    assert.match(blocks[1].text, /^pending ──claim──▶ processing/);
    assert.equal(blocks[1].text.split('\n').length, 5);
  });

  it('reads lists', () => {
    assert.deepEqual(descriptionBlocks('Either:\n- `a`, or\n  more\n- b'), [
      { kind: 'p', parts: [{ text: 'Either:' }] },
      { kind: 'ul', items: [[{ code: 'a' }, { text: ', or more' }], [{ text: 'b' }]] },
    ]);
  });

  it('gives nothing for no text, and text with markup stays text', () => {
    assert.deepEqual(descriptionBlocks(''), []);
    assert.deepEqual(descriptionBlocks(undefined), []);
    assert.deepEqual(inlineParts('<b>x</b> `<i>`'), [{ text: '<b>x</b> ' }, { code: '<i>' }]);
  });
});
