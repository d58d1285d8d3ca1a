import type {Wallet} from 'ethers'
import {MedctlError} from '../core/errors.js'
import type {Session} from '../session/session.js'
import {openDatabase, type Db} from '../db/database.js'

export interface CustodianContext {
  db: Db
  address: string
  recipient: string
  ageIdentity: string
  pseudonymKey: Buffer
  wallet: Wallet
}

/** The custodian's keys and database, for commands that read or write patient records. */
export async function custodianContext(session: Session): Promise<CustodianContext> {
  if (session.profile.role !== 'custodian') {
    throw new MedctlError('E_NOT_CUSTODIAN', `Profile "${session.profile.name}" is not a custodian profile: it holds no patient records.`, {
      exitCode: 2,
      suggestions: ['Use the custodian profile: --profile local.'],
    })
  }
  const identity = await session.unlock()
  return {
    db: openDatabase(session.paths),
    address: identity.address,
    recipient: identity.recipient,
    ageIdentity: identity.ageIdentity,
    pseudonymKey: await session.pseudonymKey(),
    wallet: identity.wallet,
  }
}
