// A viewer is not offered the admin area, and the server refuses it when asked directly.
const { signIn } = require("./steps");

module.exports = async function (page, args) {
  await signIn(page, args);
  const nav = page.getByRole("navigation", { name: "Main" });
  const links = await nav.getByRole("link").allInnerTexts();
  const answer = await page.goto(`${args.base}/app/admin`);
  const heading = await page.getByRole("heading", { level: 1 }).innerText();
  return { links, status: answer.status(), heading };
};
