// Sign in with a password; the bots page shows the workspace and the role.
const { signIn, shot } = require("./steps");

module.exports = async function (page, args) {
  await signIn(page, args);
  await page.getByRole("heading", { name: "Bots" }).waitFor();
  await shot(page, args, "bots");
  return { role: await page.getByTestId("role").innerText(), url: page.url() };
};
