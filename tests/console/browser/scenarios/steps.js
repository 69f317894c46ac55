// Steps the scenarios share (not a scenario itself: the driver only runs [a-z0-9_]+ files
// that a test names).
async function signIn(page, { base, email, password, workspace }) {
  await page.goto(`${base}/app/sign-in`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password", { exact: true }).fill(password);
  if (workspace) await page.getByLabel("Workspace (optional: slug)").fill(workspace);
  await Promise.all([page.waitForURL(/\/app\/(?!sign-in)/), page.getByRole("button", { name: "Sign in" }).click()]);
}

// Save a screenshot of the page as docs/screenshots/NAME.png when the test asks for them.
async function shot(page, { screenshots }, name, options = {}) {
  if (screenshots) await page.screenshot({ path: `${screenshots}/${name}.png`, fullPage: true, ...options });
}

module.exports = { signIn, shot };
