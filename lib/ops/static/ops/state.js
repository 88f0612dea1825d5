// The console's shared mutable state, and the page size every list asks for.

export const PAGE_SIZE = 50;

export const state = {
  signedIn: false,
  timer: null,
  lastFull: 0,
  busy: false,         // a recent request is queued or running (see watching)
  busyDetail: false,
  inFlight: false,
  again: false,
  problems: {},        // panel name -> one line shown in the banner
  editing: null,       // the job being edited, or null for a new one
  openResult: null,    // request id whose result is unfolded
  armedDelete: null,   // job id whose Delete was clicked once
  detailId: null,
  projectsSeen: "",
  session: null,       // GET /session's answer: who is signed in (role), or which sign-in form to show
  formNear: null,      // the element the job form opened next to (the Edit's row, the New job button)
  attempts: {},        // request id -> its attempts, loaded when its chip is unfolded
  bulk: null,          // a counted bulk action waiting for its confirmation: { action, matched }
  runNow: {},          // job id -> {status, text}: Run now's request, shown on the job row
  workerNotices: {},   // job id -> {text, warn}: Run now on a worker's job, shown on its row
};
