export {attestClaims, type AttestRequest, type AttestResult, type AttestedClaim, type ClaimAttestationFile} from './attest.js'
export {verifyClaims, type VerifyClaimsRequest, type VerifyClaimsResult, type VerifiedClaim, type VerifyStatus} from './verify.js'
export {claimHashOf, claimReferences, leafHashes, differingElements, type ClaimDigest} from './digest.js'
