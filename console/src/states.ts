// The states that are not an end of any process (GET /api/v1/processes lists them).
export const OPEN = ['reported', 'checking', 'accepted', 'filed', 'dispatched', 'handling', 'return_requested', 'extension_requested', 'suspension_requested', 'suspended', 'handled', 'self_handled', 'verifying', 'verified', 'community_handling', 'street_handling', 'county_handling', 'replied']
