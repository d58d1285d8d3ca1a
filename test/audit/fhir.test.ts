/**
 * Every audit entry type exported as a FHIR R4 AuditEvent: valid for HL7's R4 JSON schema and
 * @medplum/core's R4 validator (test/deid/r4.ts runs both), with the IHE BALP pattern, event type,
 * subtype and action that say what happened, and — where a BALP profile is claimed — the
 * constraints of that profile that an exported event can break (agents, entities, fixed codes).
 */
import {describe, expect, it} from 'vitest'
import {AUDIT_TYPES, BALP_PROFILE, buildEntry, toFhirAuditEvent, type AuditInput, type AuditType} from '../../src/lib/audit/index.js'
import {r4Problems} from '../deid/r4.js'

const CUSTODIAN = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266'
const CLINIC = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8'
const SUBJECT = `0x${'ab'.repeat(32)}`
const CONSENT = `0x${'cd'.repeat(32)}`
const CID = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'

const asCustodian = {address: CUSTODIAN, profile: 'hospital'}
/** One realistic entry per type, shaped as the services write them. */
const ENTRIES: Record<AuditType, AuditInput> = {
  import: {
    type: 'import',
    action: 'C',
    outcome: 'success',
    actor: asCustodian,
    custodian: CUSTODIAN,
    cids: [CID],
    classes: ['labs', 'vitals'],
    detail: {phase: 'intent', job: 3, batch: 1, objects: 1, resources: 12},
  },
  upload: {
    type: 'upload',
    action: 'C',
    outcome: 'success',
    actor: asCustodian,
    custodian: CUSTODIAN,
    detail: {uploaded: 4, skipped: 0, failed: 0, bytes: 2048},
  },
  grant: {
    type: 'grant',
    action: 'C',
    outcome: 'success',
    actor: asCustodian,
    custodian: CUSTODIAN,
    subject: SUBJECT,
    classes: ['labs'],
    consentId: CONSENT,
    purpose: 'TREAT',
    detail: {grantee: CLINIC},
  },
  revoke: {
    type: 'revoke',
    action: 'D',
    outcome: 'success',
    actor: asCustodian,
    custodian: CUSTODIAN,
    subject: SUBJECT,
    consentId: CONSENT,
    purpose: 'TREAT',
    detail: {grantee: CLINIC},
  },
  'consent-decision': {
    type: 'consent-decision',
    action: 'E',
    outcome: 'denied',
    reason: 'Revoked',
    actor: asCustodian,
    custodian: CUSTODIAN,
    subject: SUBJECT,
    classes: ['labs'],
    consentId: CONSENT,
    purpose: 'TREAT',
    detail: {grantee: CLINIC},
  },
  'break-glass': {
    type: 'break-glass',
    action: 'E',
    outcome: 'success',
    reason: 'BreakGlass',
    actor: asCustodian,
    custodian: CUSTODIAN,
    subject: SUBJECT,
    purpose: 'ETREAT,BTG',
    detail: {grantee: CLINIC, accessId: 7, hours: 4, reasonHash: `0x${'ef'.repeat(32)}`},
  },
  review: {
    type: 'review',
    action: 'U',
    outcome: 'success',
    actor: asCustodian,
    custodian: CUSTODIAN,
    detail: {accessId: 7, approved: true},
  },
  'opt-out': {
    type: 'opt-out',
    action: 'U',
    outcome: 'success',
    actor: asCustodian,
    custodian: CUSTODIAN,
    subject: SUBJECT,
    purpose: 'HRESCH,MKT',
    detail: {},
  },
  controller: {
    type: 'controller',
    action: 'U',
    outcome: 'success',
    actor: asCustodian,
    custodian: CUSTODIAN,
    subject: SUBJECT,
    detail: {controller: CLINIC},
  },
  'key-release': {
    type: 'key-release',
    action: 'E',
    outcome: 'success',
    reason: 'Permit',
    actor: asCustodian,
    custodian: CUSTODIAN,
    subject: SUBJECT,
    classes: ['labs'],
    cids: [CID],
    consentId: CONSENT,
    purpose: 'TREAT',
    detail: {grantee: CLINIC},
  },
  fetch: {
    type: 'fetch',
    action: 'R',
    outcome: 'success',
    reason: 'Permit',
    actor: {address: CLINIC, profile: 'clinic'},
    custodian: CUSTODIAN,
    subject: SUBJECT,
    classes: ['labs'],
    cids: [CID],
    consentId: CONSENT,
    purpose: 'TREAT',
    detail: {grantee: CLINIC, phase: 'written'},
  },
  export: {
    type: 'export',
    action: 'E',
    outcome: 'success',
    actor: asCustodian,
    custodian: CUSTODIAN,
    purpose: 'HRESCH',
    classes: ['labs'],
    detail: {grantee: CLINIC, block: 12, included: 40, files: 3},
  },
  anchor: {
    type: 'anchor',
    action: 'E',
    outcome: 'success',
    actor: asCustodian,
    custodian: CUSTODIAN,
    detail: {size: 100, root: `0x${'12'.repeat(32)}`},
  },
  decrypt: {
    type: 'decrypt',
    action: 'R',
    outcome: 'success',
    actor: asCustodian,
    custodian: CUSTODIAN,
    subject: SUBJECT,
    classes: ['labs'],
  },
}

/** What each type must export as: profile claimed (or none), event type, a subtype it must carry, action. */
const EXPECTED: Record<AuditType, {profile?: string; type: string; subtype: string; action: string}> = {
  import: {profile: 'IHE.BasicAudit.Create', type: 'rest', subtype: 'create', action: 'C'},
  upload: {type: '110106', subtype: 'transmit', action: 'R'},
  grant: {profile: 'IHE.BasicAudit.PatientCreate', type: 'rest', subtype: 'create', action: 'C'},
  revoke: {profile: 'IHE.BasicAudit.PatientUpdate', type: 'rest', subtype: 'update', action: 'U'},
  'consent-decision': {profile: 'IHE.BasicAudit.AuthZconsent', type: '110113', subtype: 'AuthZ-Consent', action: 'E'},
  'break-glass': {type: '110113', subtype: 'AuthZ-Role', action: 'E'},
  review: {profile: 'IHE.BasicAudit.Update', type: 'rest', subtype: 'update', action: 'U'},
  'opt-out': {profile: 'IHE.BasicAudit.PatientUpdate', type: 'rest', subtype: 'update', action: 'U'},
  controller: {profile: 'IHE.BasicAudit.PatientUpdate', type: 'rest', subtype: 'update', action: 'U'},
  'key-release': {profile: 'IHE.BasicAudit.PrivacyDisclosure.Source', type: '110106', subtype: 'disclose', action: 'R'},
  fetch: {profile: 'IHE.BasicAudit.PrivacyDisclosure.Recipient', type: '110107', subtype: 'disclose', action: 'C'},
  export: {type: '110106', subtype: 'deidentify', action: 'R'},
  anchor: {type: '110101', subtype: 'attest', action: 'E'},
  decrypt: {profile: 'IHE.BasicAudit.PatientRead', type: 'rest', subtype: 'read', action: 'R'},
}

type Coding = {system: string; code: string}
interface Agent {
  type: {coding: Coding[]}
  who?: {identifier?: {system: string; value: string}; display?: string}
  requestor: boolean
  network?: {address: string; type: string}
  purposeOfUse?: Array<{coding: Coding[]}>
}
interface Entity {
  what?: {type?: string; identifier?: {system: string; value: string}; display?: string}
  type?: Coding
  role?: Coding
}
interface Event {
  resourceType: string
  meta?: {profile: string[]}
  type: Coding
  subtype: Coding[]
  action: string
  outcome: string
  purposeOfEvent?: Array<{coding: Coding[]}>
  agent: Agent[]
  source: {observer: {identifier?: {value: string}}}
  entity?: Entity[]
}

const exported = (input: AuditInput, index = 0): Event =>
  toFhirAuditEvent(buildEntry(input, index, '0'.repeat(64), '2026-11-02T10:00:00.000Z'), index) as unknown as Event
const agentsOf = (e: Event, system: string, code: string): Agent[] =>
  e.agent.filter((a) => a.type.coding.some((c) => c.system === system && c.code === code))
const DCM = 'http://dicom.nema.org/resources/ontology/DCM'
const sameWho = (a: Agent | undefined, e: Event): boolean =>
  !!a?.who?.identifier && a.who.identifier.value === e.source.observer.identifier?.value

/** The constraints of the claimed BALP profile an exported event could break (profiles.ihe.net/ITI/BALP). */
function balpProblems(e: Event): string[] {
  const profile = e.meta?.profile[0]?.replace(`${BALP_PROFILE}IHE.BasicAudit.`, '')
  if (!profile) return []
  const out: string[] = []
  const need = (ok: boolean, what: string): void => void (ok || out.push(`${profile}: ${what}`))
  const entities = e.entity ?? []
  const patient = entities.filter((x) => x.type?.code === '1' && x.role?.code === '1')
  const withNetwork = (agents: Agent[]): boolean => agents.length === 1 && !!agents[0]?.who && !!agents[0]?.network
  if (/^(Patient)?(Create|Read|Update)$/.test(profile)) {
    const op = /Create/.test(profile) ? 'create' : /Read/.test(profile) ? 'read' : 'update'
    need(e.type.code === 'rest', 'type rest')
    need(
      e.subtype.some((s) => s.system === 'http://hl7.org/fhir/restful-interaction' && s.code === op),
      `subtype ${op}`,
    )
    need(e.action === {create: 'C', read: 'R', update: 'U'}[op], 'action')
    need(e.outcome === '0', 'outcome success')
    need(
      withNetwork(agentsOf(e, DCM, '110153')) && withNetwork(agentsOf(e, DCM, '110152')),
      'client and server agents with who and network',
    )
    need(
      e.agent.some((a) => a.requestor && a.who),
      'a requestor (user) agent',
    )
    need(
      entities.some((x) => x.type?.code === '2' && x.what && ['3', '4', '20'].includes(x.role?.code ?? '')),
      'a data entity (System Object, REST object role)',
    )
    if (profile.startsWith('Patient'))
      need(patient.length === 1 && patient[0]?.what?.type === 'Patient', 'one patient entity (Reference(Patient))')
  } else if (profile === 'AuthZconsent') {
    need(e.type.system === DCM && e.type.code === '110113' && e.action === 'E', 'Security Alert, action E')
    need(
      e.subtype.some((s) => s.code === 'AuthZ-Consent'),
      'AuthZ subtype',
    )
    need(withNetwork(agentsOf(e, DCM, '110150')), 'client application agent with network')
    need(
      agentsOf(e, 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', 'IRCP').some((a) => a.requestor),
      'user (IRCP) as requestor',
    )
    need(agentsOf(e, 'http://terminology.hl7.org/CodeSystem/v3-RoleClass', 'PROV').length === 1, 'user organisation')
    need(
      sameWho(agentsOf(e, 'http://terminology.hl7.org/CodeSystem/extra-security-role-type', 'authserver')[0], e),
      'authorizer is source.observer',
    )
    need(patient.length === 1 && entities.some((x) => x.type?.code === 'Consent' && x.what), 'patient and consent entities')
    need(
      entities.every((x) => x === patient[0] || x.type?.code === 'Consent'),
      'no entity outside the closed slices',
    )
  } else if (profile.startsWith('PrivacyDisclosure.')) {
    const atSource = profile.endsWith('Source')
    need(e.type.code === (atSource ? '110106' : '110107') && e.action === (atSource ? 'R' : 'C'), 'type and action')
    need(
      e.subtype.some((s) => s.system === 'http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle' && s.code === 'disclose'),
      'disclose subtype',
    )
    const source = agentsOf(e, DCM, '110153')
    const recipient = agentsOf(e, DCM, '110152')
    need(withNetwork(source) && withNetwork(recipient), 'source and recipient agents with network')
    need(sameWho(atSource ? source[0] : recipient[0], e), 'val-audit-source: the recording side is source.observer')
    need(patient.length === 1 && entities.length >= 2, 'patient and data entities')
  } else out.push(`unexpected profile ${profile}`)
  return out
}

describe('audit export as FHIR AuditEvent (IHE BALP)', () => {
  it('covers every entry type', () => {
    expect(Object.keys(ENTRIES).sort()).toEqual([...AUDIT_TYPES].sort())
  })

  for (const type of AUDIT_TYPES) {
    it(`${type}: valid R4 (HL7 schema and @medplum/core), with the right BALP pattern`, () => {
      const event = exported(ENTRIES[type], 5)
      expect(r4Problems(event)).toEqual([])
      const want = EXPECTED[type]
      expect(event.meta?.profile ?? []).toEqual(want.profile ? [`${BALP_PROFILE}${want.profile}`] : [])
      expect(event.type.code).toBe(want.type)
      expect(event.subtype.map((s) => s.code)).toContain(want.subtype)
      expect(event.subtype).toContainEqual(expect.objectContaining({code: type}))
      expect(event.action).toBe(want.action)
      expect(balpProblems(event)).toEqual([])
      for (const a of event.agent) expect(a.who && typeof a.requestor === 'boolean').toBe(true)
      expect(event.agent.filter((a) => a.requestor).length).toBeGreaterThanOrEqual(1)
      if (ENTRIES[type].subject)
        expect(event.entity).toContainEqual(
          expect.objectContaining({what: {type: 'Patient', identifier: {system: 'urn:medctl:subject', value: SUBJECT}}}),
        )
    })
  }

  it('a consent decision carries the requested purpose; a permit is success, a deny a failure', () => {
    const deny = exported(ENTRIES['consent-decision'])
    expect(deny.outcome).toBe('4')
    expect(deny.purposeOfEvent).toEqual([{coding: [{system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'TREAT'}]}])
    const user = deny.agent.find((a) => a.requestor)
    expect(user?.who?.identifier?.value).toBe(CLINIC)
    expect(user?.purposeOfUse?.[0]?.coding[0]?.code).toBe('TREAT')
    expect(exported({...ENTRIES['consent-decision'], outcome: 'success', reason: 'Permit'}).outcome).toBe('0')
  })

  it('break-glass states the purposes of use BTG and ETREAT', () => {
    const event = exported(ENTRIES['break-glass'])
    expect(event.purposeOfEvent?.map((p) => p.coding[0]?.code).sort()).toEqual(['BTG', 'ETREAT'])
    expect(
      event.agent
        .find((a) => a.requestor)
        ?.purposeOfUse?.map((p) => p.coding[0]?.code)
        .sort(),
    ).toEqual(['BTG', 'ETREAT'])
  })

  it('share and fetch name the custodian as source and the grantee as recipient; the requestor is the side that acted', () => {
    for (const type of ['key-release', 'fetch'] as const) {
      const event = exported(ENTRIES[type])
      const source = agentsOf(event, DCM, '110153')[0]
      const recipient = agentsOf(event, DCM, '110152')[0]
      expect(source?.who?.identifier?.value).toBe(CUSTODIAN)
      expect(recipient?.who?.identifier?.value).toBe(CLINIC)
      expect((type === 'key-release' ? source : recipient)?.requestor).toBe(true)
    }
  })

  it('empty details (an empty class list, a blank value) are left out: R4 strings are never empty', () => {
    const event = exported({...ENTRIES.grant, purpose: undefined, classes: [], detail: {grantee: CLINIC, note: '', blank: ' '}})
    expect(r4Problems(event)).toEqual([])
    expect(JSON.stringify(event)).not.toContain('"blank"')
  })

  it('export says what was exported: a claim attested for a payer is not a de-identified dataset', () => {
    const claim = exported({
      type: 'export',
      action: 'C',
      outcome: 'success',
      actor: asCustodian,
      custodian: CUSTODIAN,
      subject: SUBJECT,
      classes: ['claims'],
      purpose: 'HPAYMT',
      detail: {kind: 'claim-attestation', claimHash: `0x${'aa'.repeat(32)}`, payer: CLINIC},
    })
    expect(r4Problems(claim)).toEqual([])
    expect(claim.subtype.map((s) => s.code)).toEqual(['attest', 'disclose', 'export'])
    expect(agentsOf(claim, DCM, '110152')[0]?.who?.identifier?.value).toBe(CLINIC)
    const consents = exported({
      type: 'export',
      action: 'E',
      outcome: 'success',
      actor: asCustodian,
      custodian: CUSTODIAN,
      detail: {what: 'consents', format: 'fhir', exported: 3},
    })
    expect(consents.subtype.map((s) => s.code)).toEqual(['extract', 'export'])
  })

  it('an entry type this version does not know still exports as valid R4, with no profile', () => {
    const unknown = exported({...ENTRIES.grant, type: 'erase' as AuditType, action: 'D'})
    expect(r4Problems(unknown)).toEqual([])
    expect(unknown.meta).toBeUndefined()
    expect(unknown.type.code).toBe('110100')
    expect(unknown.subtype).toContainEqual(expect.objectContaining({code: 'erase'}))
  })

  it('a consented purpose is not the purpose of the grant event', () => {
    const event = exported(ENTRIES.grant)
    expect(event.purposeOfEvent).toBeUndefined()
    expect(JSON.stringify(event.entity)).toContain('"purpose"')
  })

  it('claims no RESTful profile for a failure, nor a patient profile without a patient; still valid R4', () => {
    const failed = exported({...ENTRIES.import, outcome: 'failure', reason: 'E_DISK_FULL'})
    expect(failed.meta).toBeUndefined()
    expect(failed.outcome).toBe('8')
    expect(r4Problems(failed)).toEqual([])
    const denied = exported({
      type: 'fetch',
      action: 'R',
      outcome: 'denied',
      reason: 'E_NOT_FOR_YOU',
      actor: {address: CLINIC},
      cids: [CID],
      detail: {grantee: CLINIC},
    })
    expect(denied.meta).toBeUndefined()
    expect(r4Problems(denied)).toEqual([])
  })
})
