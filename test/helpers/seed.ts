// Values from the seed page (../shared/seeds/opa-policy-integration.txt).

/** The page's ADMIN_TOKEN: HS256 with secret "secret", role admin, nbf 2018, exp 2050. */
export const ADMIN_TOKEN =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoiYWRtaW4iLCJzdWIiOiJZbTlpIiwibmJmIjoxNTE0ODUxMTM5LCJleHAiOjI1MjQ2MDgwMDB9.H0-42LYzoWyQ_4MXAcED30u6lA5JE087eECV2nxDfXo';
