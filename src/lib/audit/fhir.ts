/**
 * Audit entries as FHIR R4 AuditEvents shaped by IHE Basic Audit Log Patterns (BALP,
 * https://profiles.ihe.net/ITI/BALP/). Each entry type maps to the BALP pattern that says what
 * happened, with the event type, subtypes and action that pattern fixes:
 *
 *   import                  Create / PatientCreate        rest · create (+ ISO 21089 receive)  C
 *   grant                   PatientCreate (a Consent)     rest · create (+ originate)          C
 *   revoke, opt-out,        PatientUpdate (or Update when rest · update (+ deprecate, attest)   U
 *   controller, review      no patient is named)
 *   decrypt                 PatientRead                   rest · read (+ decrypt)              R
 *   consent-decision        AuthZconsent                  DCM 110113 · AuthZ-Consent           E
 *   key-release (share)     PrivacyDisclosure.Source      DCM 110106 Export · disclose         R
 *   fetch (by the grantee)  PrivacyDisclosure.Recipient   DCM 110107 Import · disclose+receive C
 *   break-glass             — (no BALP pattern)           DCM 110113 · AuthZ-Role, BTG/ETREAT  E
 *   upload, export, anchor  — (no BALP pattern)           DCM 110106 / 110101 · ISO 21089      R/E
 *   (export of a patient's own record, Art. 15/20: ISO 21089 extract + disclose, purpose PATRQT)
 *
 * A profile is claimed only when the event meets it: the RESTful patterns fix the outcome to
 * success (BALP records failures differently), the Patient* and disclosure patterns need a patient
 * entity, AuthZconsent a consent entity. Break-glass bypasses consent, so BALP's only
 * authorization pattern (which requires one) does not fit it; it is a Security Alert with the
 * purposes of use BTG and ETREAT. Every event also carries medctl's own entry type as a subtype.
 *
 * Parties are Ethereum accounts (the identity medctl knows them by), the patient is the keyed
 * pseudonym (never an identifier), objects are IPFS CIDs.
 */
import type {AuditEntry, AuditType} from './entry.js'

type Json = Record<string, unknown>
type Coding = {system: string; code: string; display?: string}

export const BALP_PROFILE = 'https://profiles.ihe.net/ITI/BALP/StructureDefinition/'
const DCM = 'http://dicom.nema.org/resources/ontology/DCM'
const EVENT_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-event-type'
const RESTFUL = 'http://hl7.org/fhir/restful-interaction'
const LIFECYCLE = 'http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle'
const AUTHZ = 'https://profiles.ihe.net/ITI/BALP/CodeSystem/AuthZsubType'
const ACT_REASON = 'http://terminology.hl7.org/CodeSystem/v3-ActReason'
const PARTICIPATION = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType'
const ROLE_CLASS = 'http://terminology.hl7.org/CodeSystem/v3-RoleClass'
const SECURITY_ROLE = 'http://terminology.hl7.org/CodeSystem/extra-security-role-type'
const SCT = 'http://snomed.info/sct'
const ENTITY_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-entity-type'
const OBJECT_ROLE = 'http://terminology.hl7.org/CodeSystem/object-role'
const RESOURCE_TYPES = 'http://hl7.org/fhir/resource-types'
const SOURCE_TYPE = 'http://terminology.hl7.org/CodeSystem/security-source-type'
export const MEDCTL_EVENT = 'https://medctl.dev/fhir/CodeSystem/audit-event'
export const ACCOUNT_SYSTEM = 'urn:ethereum:address'
export const SUBJECT_SYSTEM = 'urn:medctl:subject'
const CID_SYSTEM = 'urn:ipfs:cid'
const CONSENT_SYSTEM = 'urn:medctl:consent'

const code = (system: string, value: string, display?: string): Coding => ({system, code: value, ...(display ? {display} : {})})

const T = {
  rest: code(EVENT_TYPE, 'rest', 'Restful Operation'),
  export: code(DCM, '110106', 'Export'),
  import: code(DCM, '110107', 'Import'),
  auditLogUsed: code(DCM, '110101', 'Audit Log Used'),
  securityAlert: code(DCM, '110113', 'Security Alert'),
}
const REST = {create: code(RESTFUL, 'create', 'create'), read: code(RESTFUL, 'read', 'read'), update: code(RESTFUL, 'update', 'update')}
const life = (c: string): Coding => code(LIFECYCLE, c)
const AGENT = {
  sourceRole: code(DCM, '110153', 'Source Role ID'),
  destinationRole: code(DCM, '110152', 'Destination Role ID'),
  application: code(DCM, '110150', 'Application'),
  recipient: code(PARTICIPATION, 'IRCP', 'information recipient'),
  custodianUser: code(PARTICIPATION, 'CST', 'custodian'),
  author: code(PARTICIPATION, 'AUT', 'author (originator)'),
  provider: code(ROLE_CLASS, 'PROV', 'healthcare provider'),
  authServer: code(SECURITY_ROLE, 'authserver', 'authorization server'),
  recordKeeper: code(SCT, '159541003', 'Record keeping/library clerk'),
}

const SUBTYPE_DISPLAY: Record<AuditType, string> = {
  'consent-decision': 'Consent decision',
  'key-release': 'Object keys released to a grantee (share)',
  fetch: 'Records fetched by the grantee',
  grant: 'Consent granted',
  revoke: 'Consent revoked',
  'break-glass': 'Emergency access opened',
  review: 'Emergency access reviewed',
  'opt-out': 'Purpose opt-out',
  controller: 'Consent controller or network member set',
  import: 'Records imported',
  upload: 'Records replicated to a content store',
  export: 'Data exported (research dataset or consents)',
  anchor: 'Audit tree head anchored',
  decrypt: 'Records decrypted by the custodian',
}

const isAccount = (value: unknown): value is string => typeof value === 'string' && /^0x[0-9a-fA-F]{40}$/.test(value)

/** A party as a logical reference: its account, or only a display name when no account is known. */
function party(account: string | undefined, name?: string): Json {
  if (isAccount(account)) return {identifier: {system: ACCOUNT_SYSTEM, value: account}, ...(name ? {display: name} : {})}
  return {display: name ?? account ?? 'unknown'}
}

/** Where a party is reached on the medctl network: its account, as an `ethereum:` URI (network type 5). */
function network(account: string | undefined): Json | undefined {
  return isAccount(account) ? {address: `ethereum:${account}`, type: '5'} : undefined
}

function agent(
  type: Coding,
  who: Json,
  requestor: boolean,
  extra: {account?: string; network?: boolean; name?: string; purposes?: string[]} = {},
): Json {
  const net = extra.network ? network(extra.account) : undefined
  return {
    type: {coding: [type]},
    who,
    ...(extra.name ? {name: extra.name} : {}),
    requestor,
    ...(net ? {network: net} : {}),
    ...(extra.purposes?.length ? {purposeOfUse: extra.purposes.map((p) => ({coding: [code(ACT_REASON, p)]}))} : {}),
  }
}

function details(values: Record<string, unknown>): Json[] {
  return Object.entries(values)
    .map(([type, v]) => ({type, valueString: v === undefined || v === null ? '' : Array.isArray(v) ? v.join(',') : String(v)}))
    .filter((d) => d.valueString.trim() !== '')
}

interface Context {
  entry: AuditEntry
  actor: string
  actorName?: string
  custodian: string
  grantee?: string
  purposes: string[]
  detail: Record<string, string | number | boolean>
}

function patientEntity(subject: string): Json {
  return {
    what: {type: 'Patient', identifier: {system: SUBJECT_SYSTEM, value: subject}},
    type: code(ENTITY_TYPE, '1', 'Person'),
    role: code(OBJECT_ROLE, '1', 'Patient'),
  }
}

/** The data the event acted on: its objects (CIDs), else one entity naming what it was (a job, a consent, an access). */
function dataEntities(
  ctx: Context,
  fallback: {what: Json; role: string; roleDisplay: string},
  extra: Record<string, unknown> = {},
): Json[] {
  const {entry} = ctx
  const info = details({...ctx.detail, ...(entry.classes?.length ? {classes: entry.classes} : {}), ...extra})
  const role = code(OBJECT_ROLE, fallback.role, fallback.roleDisplay)
  const base = {type: code(ENTITY_TYPE, '2', 'System Object'), role}
  const cids = entry.cids ?? []
  const out: Json[] = cids.length
    ? cids.map((cid) => ({what: {identifier: {system: CID_SYSTEM, value: cid}}, ...base}))
    : [{what: fallback.what, ...base}]
  if (info.length) out[0] = {...out[0], detail: info}
  return out
}

function consentEntity(ctx: Context, detail: Record<string, unknown> = {}): Json {
  const consentId = ctx.entry.consentId
  const info = details(detail)
  return {
    what: consentId
      ? {type: 'Consent', identifier: {system: CONSENT_SYSTEM, value: consentId}}
      : {type: 'Consent', display: 'no consent on file'},
    type: code(RESOURCE_TYPES, 'Consent', 'Consent'),
    ...(info.length ? {detail: info} : {}),
  }
}

interface Shape {
  profile?: string
  type: Coding
  subtype: Coding[]
  action: 'C' | 'R' | 'U' | 'D' | 'E'
  sourceType: Coding
  purposeOfEvent?: string[]
  agent: Json[]
  entity: Json[]
}

const APP_SERVER = code(SOURCE_TYPE, '4', 'Application Server')
const SECURITY_SERVER = code(SOURCE_TYPE, '6', 'Security Server')

/** The RESTful BALP patterns (Create, Read, Update): client, server and the user who asked. */
function restful(ctx: Context, op: 'create' | 'read' | 'update', userType: Coding, lifecycle: Coding[], data: Json[]): Shape {
  const {entry} = ctx
  const success = entry.outcome === 'success'
  const base = op === 'create' ? 'Create' : op === 'read' ? 'Read' : 'Update'
  const profile = success ? `${BALP_PROFILE}IHE.BasicAudit.${entry.subject ? 'Patient' : ''}${base}` : undefined
  // A read flows from the server (source) to the client (destination); a create or update the other way.
  const [clientRole, serverRole] = op === 'read' ? [AGENT.destinationRole, AGENT.sourceRole] : [AGENT.sourceRole, AGENT.destinationRole]
  return {
    profile,
    type: T.rest,
    subtype: [REST[op], ...lifecycle],
    action: op === 'create' ? 'C' : op === 'read' ? 'R' : 'U',
    sourceType: APP_SERVER,
    agent: [
      agent(clientRole, party(ctx.actor, 'medctl'), false, {account: ctx.actor, network: true}),
      agent(serverRole, party(ctx.custodian, 'medctl vault'), false, {account: ctx.custodian, network: true}),
      agent(userType, party(ctx.actor, ctx.actorName), true, {name: ctx.actorName}),
      ...(ctx.grantee ? [agent(AGENT.recipient, party(ctx.grantee), false)] : []),
    ],
    entity: [...(entry.subject ? [patientEntity(entry.subject)] : []), ...data],
  }
}

function shape(ctx: Context): Shape {
  const {entry} = ctx
  const owner = ctx.actor.toLowerCase() === ctx.custodian.toLowerCase() ? AGENT.custodianUser : AGENT.author
  const job = (label: string): {what: Json; role: string; roleDisplay: string} => ({what: {display: label}, role: '20', roleDisplay: 'Job'})
  switch (entry.type) {
    case 'import':
      return restful(ctx, 'create', AGENT.custodianUser, [life('receive')], dataEntities(ctx, job('records import')))
    case 'grant':
      return restful(
        ctx,
        'create',
        owner,
        [life('originate')],
        [withRole(consentEntity(ctx, {purpose: ctx.purposes, classes: entry.classes, ...ctx.detail}), '4', 'Domain Resource')],
      )
    case 'revoke':
      return restful(
        ctx,
        'update',
        owner,
        [life('deprecate')],
        [
          withRole(
            consentEntity(ctx, {purpose: ctx.purposes, ...ctx.detail, ...(entry.consentId ? {} : {scope: 'every consent of the patient'})}),
            '4',
            'Domain Resource',
          ),
        ],
      )
    case 'opt-out':
      return restful(
        ctx,
        'update',
        owner,
        [life('amend')],
        [
          withRole(
            {...consentEntity(ctx, {'opted-out': ctx.purposes, ...ctx.detail}), what: {type: 'Consent', display: 'purpose opt-out'}},
            '4',
            'Domain Resource',
          ),
        ],
      )
    case 'controller':
      return restful(
        ctx,
        'update',
        owner,
        [life('amend')],
        dataEntities(ctx, {
          what: {display: entry.subject ? 'consent controller' : String(ctx.detail.event ?? 'network member')},
          role: '4',
          roleDisplay: 'Domain Resource',
        }),
      )
    case 'review':
      return restful(
        ctx,
        'update',
        owner,
        [life('attest')],
        dataEntities(ctx, {
          what:
            ctx.detail.accessId !== undefined
              ? {identifier: {system: 'urn:medctl:emergency-access', value: String(ctx.detail.accessId)}, display: 'emergency access'}
              : {display: 'emergency access'},
          role: '4',
          roleDisplay: 'Domain Resource',
        }),
      )
    case 'decrypt':
      return restful(
        ctx,
        'read',
        AGENT.recipient,
        [life('decrypt')],
        dataEntities(ctx, {what: {display: 'decrypted records'}, role: '4', roleDisplay: 'Domain Resource'}),
      )
    case 'consent-decision':
      return {
        profile: entry.subject ? `${BALP_PROFILE}IHE.BasicAudit.AuthZconsent` : undefined,
        type: T.securityAlert,
        subtype: [code(AUTHZ, 'AuthZ-Consent', 'Authorization Decision using Roles and Consent')],
        action: 'E',
        sourceType: SECURITY_SERVER,
        purposeOfEvent: ctx.purposes,
        agent: authzAgents(ctx),
        entity: [...(entry.subject ? [patientEntity(entry.subject)] : []), consentEntity(ctx, {classes: entry.classes, ...ctx.detail})],
      }
    case 'break-glass':
      return {
        type: T.securityAlert,
        subtype: [code(AUTHZ, 'AuthZ-Role', 'Authorization Decision using only Roles')],
        action: 'E',
        sourceType: SECURITY_SERVER,
        purposeOfEvent: ctx.purposes,
        agent: authzAgents(ctx),
        entity: [
          ...(entry.subject ? [patientEntity(entry.subject)] : []),
          ...dataEntities(ctx, {
            what:
              ctx.detail.accessId !== undefined
                ? {identifier: {system: 'urn:medctl:emergency-access', value: String(ctx.detail.accessId)}, display: 'emergency access'}
                : {display: 'emergency access'},
            role: '13',
            roleDisplay: 'Security Resource',
          }),
        ],
      }
    case 'key-release':
      return disclosure(ctx, 'source')
    case 'fetch':
      return disclosure(ctx, 'recipient')
    case 'upload':
      return {
        type: T.export,
        subtype: [life('transmit')],
        action: 'R',
        sourceType: APP_SERVER,
        agent: [
          agent(AGENT.sourceRole, party(ctx.actor, ctx.actorName), true, {account: ctx.actor, network: true, name: ctx.actorName}),
          agent(AGENT.destinationRole, {display: 'content store (IPFS)'}, false),
        ],
        entity: dataEntities(ctx, job('replication to the content store')),
      }
    case 'export': {
      // What was exported: consents (extract), a claim attested for a payer (attest), a research dataset (de-identified).
      const kind =
        ctx.detail.what === 'consents'
          ? 'consents'
          : ctx.detail.what === 'patient-record'
            ? 'patient'
            : ctx.detail.kind === 'claim-attestation'
              ? 'claim'
              : entry.purpose === 'HRESCH'
                ? 'research'
                : 'other'
      const recipient = ctx.grantee ?? (typeof ctx.detail.payer === 'string' ? ctx.detail.payer : undefined)
      const subtype = {
        consents: [life('extract')],
        patient: [life('extract'), life('disclose')],
        claim: [life('attest')],
        research: [life('extract'), life('deidentify')],
        other: [life('extract')],
      }[kind]
      return {
        type: T.export,
        subtype: [...subtype, ...(recipient ? [life('disclose')] : [])],
        action: 'R',
        sourceType: APP_SERVER,
        purposeOfEvent: ctx.purposes,
        agent: [
          agent(AGENT.sourceRole, party(ctx.actor, ctx.actorName), true, {account: ctx.actor, network: true, name: ctx.actorName}),
          ...(recipient ? [agent(AGENT.destinationRole, party(recipient), false, {account: recipient, network: true})] : []),
        ],
        entity: [
          ...(entry.subject ? [patientEntity(entry.subject)] : []),
          ...dataEntities(ctx, {
            what: {
              display: {
                consents: 'consents',
                patient: "the patient's record, consents and audit events (access and portability)",
                claim: 'claim attestation',
                research: 'research dataset',
                other: 'exported data',
              }[kind],
            },
            role: '3',
            roleDisplay: 'Report',
          }),
        ],
      }
    }
    case 'anchor':
      return {
        type: T.auditLogUsed,
        subtype: [life('attest')],
        action: 'E',
        sourceType: APP_SERVER,
        agent: [agent(AGENT.custodianUser, party(ctx.actor, ctx.actorName), true, {name: ctx.actorName})],
        entity: dataEntities(ctx, {what: {display: 'audit log tree head'}, role: '13', roleDisplay: 'Security Resource'}),
      }
    default:
      // An entry type this version does not know (a newer medctl wrote it): an application event, no profile.
      return {
        type: code(DCM, '110100', 'Application Activity'),
        subtype: [],
        action: ['C', 'R', 'U', 'D', 'E'].includes(entry.action) ? entry.action : 'E',
        sourceType: APP_SERVER,
        purposeOfEvent: ctx.purposes,
        agent: [agent(AGENT.sourceRole, party(ctx.actor, ctx.actorName), true, {account: ctx.actor, network: true, name: ctx.actorName})],
        entity: [
          ...(entry.subject ? [patientEntity(entry.subject)] : []),
          ...dataEntities(ctx, {what: {display: String(entry.type)}, role: '4', roleDisplay: 'Domain Resource'}),
        ],
      }
  }
}

function withRole(entity: Json, role: string, display: string): Json {
  return {
    ...entity,
    type: code(ENTITY_TYPE, '2', 'System Object'),
    role: code(OBJECT_ROLE, role, display),
    what: {...(entity.what as Json)},
  }
}

/** BALP AuthZconsent's agents: the app, the user who asked (the grantee) and its organisation, the authorizer. */
function authzAgents(ctx: Context): Json[] {
  const grantee = ctx.grantee ?? ctx.actor
  return [
    agent(AGENT.application, party(ctx.actor, 'medctl'), false, {account: ctx.actor, network: true}),
    agent(AGENT.recipient, party(grantee), true, {purposes: ctx.purposes}),
    agent(AGENT.provider, party(grantee), false),
    // val-audit-source: the authorizer is the one that records the event (source.observer).
    agent(AGENT.authServer, party(ctx.actor, ctx.actorName), false),
  ]
}

/** BALP PrivacyDisclosure at the source (a share: keys released) or at the recipient (a fetch by the grantee). */
function disclosure(ctx: Context, side: 'source' | 'recipient'): Shape {
  const {entry} = ctx
  const atSource = side === 'source'
  const sourceAccount = atSource ? ctx.actor : ctx.custodian
  const recipientAccount = atSource ? ctx.grantee : ctx.actor
  const consent = entry.consentId ? [consentEntity(ctx)] : []
  return {
    profile: entry.subject ? `${BALP_PROFILE}IHE.BasicAudit.PrivacyDisclosure.${atSource ? 'Source' : 'Recipient'}` : undefined,
    type: atSource ? T.export : T.import,
    subtype: atSource ? [life('disclose')] : [life('disclose'), life('receive')],
    action: atSource ? 'R' : 'C',
    sourceType: APP_SERVER,
    purposeOfEvent: ctx.purposes,
    agent: [
      agent(AGENT.sourceRole, party(sourceAccount, atSource ? ctx.actorName : undefined), atSource, {
        account: sourceAccount,
        network: true,
        ...(atSource && ctx.actorName ? {name: ctx.actorName} : {}),
      }),
      agent(AGENT.destinationRole, party(recipientAccount, atSource ? undefined : ctx.actorName), !atSource, {
        account: recipientAccount,
        network: true,
        purposes: atSource ? [] : ctx.purposes,
      }),
      agent(AGENT.recordKeeper, party(ctx.custodian), false),
    ],
    entity: [
      ...(entry.subject ? [patientEntity(entry.subject)] : []),
      ...dataEntities(ctx, {what: {display: 'access package'}, role: '3', roleDisplay: 'Report'}),
      ...consent,
    ],
  }
}

const OUTCOME = {success: '0', denied: '4', failure: '8'} as const

/** The entry as a FHIR R4 AuditEvent following the BALP pattern for its type (see the table above). */
export function toFhirAuditEvent(entry: AuditEntry, index: number): Json {
  const {grantee, ...rest} = entry.detail ?? {}
  const ctx: Context = {
    entry,
    actor: entry.actor.address,
    actorName: entry.actor.profile,
    custodian: entry.custodian ?? entry.actor.address,
    grantee: typeof grantee === 'string' && grantee ? grantee : undefined,
    purposes: (entry.purpose ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean),
    detail: rest,
  }
  // Consented or opted-out purposes describe the consent, not why this event happened.
  const eventPurposes = ['grant', 'revoke', 'opt-out'].includes(entry.type) ? [] : ctx.purposes
  const s = shape(ctx)
  return {
    resourceType: 'AuditEvent',
    id: `medctl-${index}`,
    ...(s.profile ? {meta: {profile: [s.profile]}} : {}),
    type: s.type,
    subtype: [...s.subtype, code(MEDCTL_EVENT, String(entry.type), SUBTYPE_DISPLAY[entry.type] ?? String(entry.type))],
    action: s.action,
    recorded: entry.recorded,
    outcome: OUTCOME[entry.outcome] ?? '8',
    ...(entry.reason ? {outcomeDesc: entry.reason} : {}),
    ...(eventPurposes.length && s.purposeOfEvent?.length
      ? {purposeOfEvent: eventPurposes.map((p) => ({coding: [code(ACT_REASON, p)]}))}
      : {}),
    agent: s.agent,
    // The home that wrote the entry records the event: the actor's.
    source: {
      ...(entry.actor.profile ? {site: `medctl profile ${entry.actor.profile}`} : {}),
      observer: party(entry.actor.address, entry.actor.profile),
      type: [s.sourceType],
    },
    ...(s.entity.length ? {entity: s.entity} : {}),
  }
}
